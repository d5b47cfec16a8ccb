"""Messages of the sources' errors (providers/errors.py), in zh-CN and en."""

from __future__ import annotations

from config.i18n import Language

MESSAGES: dict[str, dict[Language, str]] = {
    # imagery and process input sources (providers/sources.py)
    "source.invalid": {"en": "Not a path or URL.", "zh-CN": "不是路径或网址。"},
    "source.vsi": {
        "en": "GDAL virtual paths (/vsi...) are not accepted.",
        "zh-CN": "不接受 GDAL 虚拟路径（/vsi...）。",
    },
    "source.scheme": {
        "en": "Only paths and http(s):// or s3:// URLs are accepted.",
        "zh-CN": "只接受路径以及 http(s):// 或 s3:// 网址。",
    },
    "source.credentials": {
        "en": "URLs with credentials are not accepted.",
        "zh-CN": "不接受含用户名或密码的网址。",
    },
    "source.dotdot": {
        "en": "'..' is not accepted in URLs.",
        "zh-CN": "网址中不能含有“..”。",
    },
    "source.outside": {
        "en": "The source lies outside the allowed sources (allowed_sources).",
        "zh-CN": "该数据源不在允许的数据源（allowed_sources）之内。",
    },
    # Features Part 4: bodies that cannot be stored (providers/edits.py)
    "edit.stale": {
        "en": "The feature has changed since version {sent}; its current version is "
        "in the ETag header: read it again and re-apply your change.",
        "zh-CN": "该要素自版本 {sent} 之后已被修改；当前版本见 ETag 响应头，"
        "请重新读取后再修改。",
    },
    "edit.if_match": {
        "en": "Edits of this collection need If-Match with the feature's ETag.",
        "zh-CN": "修改该数据集合中的要素须携带 If-Match（要素的 ETag）。",
    },
    "edit.read_only": {
        "en": "Collection '{id}' cannot be edited.",
        "zh-CN": "数据集合“{id}”不可编辑。",
    },
    "edit.media_type": {
        "en": "Send the body as {allowed}, not '{value}'.",
        "zh-CN": "请求体须为 {allowed}，而不是“{value}”。",
    },
    "edit.too_large": {
        "en": "The body is larger than {max} bytes.",
        "zh-CN": "请求体超过 {max} 字节。",
    },
    "edit.json": {
        "en": "The body is not valid JSON: {reason}",
        "zh-CN": "请求体不是有效的 JSON：{reason}",
    },
    "edit.not_feature": {
        "en": "The body must be a GeoJSON Feature.",
        "zh-CN": "请求体必须是 GeoJSON Feature。",
    },
    "edit.not_object": {
        "en": "The body must be a JSON object (a merge patch).",
        "zh-CN": "请求体必须是 JSON 对象（合并补丁）。",
    },
    "edit.unknown_field": {
        "en": "'{field}' is not a property of this collection.",
        "zh-CN": "“{field}”不是该数据集合的属性。",
    },
    "edit.type": {
        "en": "'{field}' must be of type {type}.",
        "zh-CN": "“{field}”的类型必须是 {type}。",
    },
    "edit.required": {
        "en": "'{field}' is required.",
        "zh-CN": "“{field}”为必填项。",
    },
    "edit.geometry": {
        "en": "'{field}' is not a valid geometry: {reason}",
        "zh-CN": "“{field}”不是有效的几何：{reason}",
    },
    "edit.geometry_type": {
        "en": "'{field}' must be a {expected}, got a {got}.",
        "zh-CN": "“{field}”必须是 {expected}，实际为 {got}。",
    },
    "edit.nul": {
        "en": "'{field}' must not contain a NUL character.",
        "zh-CN": "“{field}”不能包含 NUL 字符。",
    },
    "edit.value": {
        "en": "{field} must be one of: {allowed}.",
        "zh-CN": "{field} 只能取以下值之一：{allowed}。",
    },
    "edit.outside_grant": {
        "en": "The feature would lie outside the area or rows your role may edit in "
        "collection '{id}'.",
        "zh-CN": "要素将超出您的角色在数据集合“{id}”中可编辑的区域或范围。",
    },
    # CQL2 filters (providers/cql2.py)
    "cql2.too_long": {
        "en": "The filter is longer than {max} characters.",
        "zh-CN": "过滤条件超过 {max} 个字符。",
    },
    "cql2.too_deep": {
        "en": "The filter nests deeper than {max} levels.",
        "zh-CN": "过滤条件嵌套超过 {max} 层。",
    },
    "cql2.too_many": {
        "en": "The filter has more than {max} terms.",
        "zh-CN": "过滤条件超过 {max} 项。",
    },
    "cql2.lang": {
        "en": "Unknown filter-lang '{value}'; use cql2-text or cql2-json.",
        "zh-CN": "未知的 filter-lang“{value}”，可用 cql2-text 或 cql2-json。",
    },
    "cql2.invalid": {
        "en": "Not valid {syntax}: {reason}",
        "zh-CN": "不是有效的 {syntax}：{reason}",
    },
    "cql2.not_condition": {
        "en": "The filter must be a condition (true or false).",
        "zh-CN": "过滤条件必须是真或假的判断。",
    },
    "cql2.array_place": {
        "en": "Arrays are allowed only in IN and the A_* functions.",
        "zh-CN": "数组只能用于 IN 和 A_* 函数。",
    },
    "cql2.interval_place": {
        "en": "An INTERVAL is allowed only in the T_* functions.",
        "zh-CN": "INTERVAL 只能用于 T_* 函数。",
    },
    "cql2.element": {
        "en": "The filter contains an unsupported element.",
        "zh-CN": "过滤条件包含不支持的元素。",
    },
    "cql2.unknown_property": {
        "en": "Unknown property '{name}' (see the queryables).",
        "zh-CN": "未知的属性“{name}”（参见可查询属性）。",
    },
    "cql2.geometry": {
        "en": "Invalid geometry: {reason}",
        "zh-CN": "几何无效：{reason}",
    },
    "cql2.unknown_op": {
        "en": "Unsupported function or operator '{op}'.",
        "zh-CN": "不支持的函数或运算符“{op}”。",
    },
    "cql2.operands": {
        "en": "{op} got values of the wrong number or type.",
        "zh-CN": "{op} 的参数个数或类型不对。",
    },
    "cql2.compare_types": {
        "en": "Cannot compare a {a} value with a {b} value.",
        "zh-CN": "无法比较 {a} 类型与 {b} 类型的值。",
    },
    "cql2.eval": {
        "en": "The filter cannot be evaluated: {reason}",
        "zh-CN": "无法计算该过滤条件：{reason}",
    },
}
