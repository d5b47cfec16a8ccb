"""The server's own messages in zh-CN and en; with those of the sources and the
processes, every message a user can see."""

from __future__ import annotations

from typing import Any

from config.i18n import Language, translate_from
from processes.messages import MESSAGES as PROCESS_MESSAGES
from providers.messages import MESSAGES as SOURCE_MESSAGES

_SERVER_MESSAGES: dict[str, dict[Language, str]] = {
    # errors: titles
    "title.invalid_parameter": {"en": "Invalid parameter", "zh-CN": "参数无效"},
    "title.not_found": {"en": "Not found", "zh-CN": "未找到"},
    "title.not_acceptable": {"en": "Not acceptable", "zh-CN": "无法提供所请求的格式"},
    "title.server_error": {"en": "Server error", "zh-CN": "服务器错误"},
    "title.method_not_allowed": {"en": "Method not allowed", "zh-CN": "不允许的请求方法"},
    "title.unavailable": {"en": "Service unavailable", "zh-CN": "服务暂不可用"},
    "title.precondition_failed": {"en": "Precondition failed", "zh-CN": "前提条件不满足"},
    "title.precondition_required": {
        "en": "Precondition required",
        "zh-CN": "缺少前提条件",
    },
    "title.unsupported_media_type": {
        "en": "Unsupported media type",
        "zh-CN": "不支持的媒体类型",
    },
    "title.payload_too_large": {"en": "Payload too large", "zh-CN": "请求体过大"},
    "title.bad_gateway": {"en": "Data source unavailable", "zh-CN": "数据源不可用"},
    # Tiles
    "tile.unknown_tms": {
        "en": "Unknown tile matrix set '{id}'; available: {ids}.",
        "zh-CN": "未知的瓦片矩阵集“{id}”，可用：{ids}。",
    },
    "tile.outside": {
        "en": "Tile {z}/{y}/{x} lies outside the tile matrix set or the data's limits.",
        "zh-CN": "瓦片 {z}/{y}/{x} 超出瓦片矩阵集或数据范围。",
    },
    "tile.no_tiles": {
        "en": "Collection '{id}' has no tiles of this kind.",
        "zh-CN": "数据集合“{id}”没有此类瓦片。",
    },
    "tile.bidx": {
        "en": "Band indexes must be whole numbers from 1 to {count}.",
        "zh-CN": "波段序号必须是 1 到 {count} 之间的整数。",
    },
    "tile.rescale": {
        "en": "Give min,max with min < max (once for all bands or once per band).",
        "zh-CN": "请以 min,max 给出，且 min < max（所有波段一次或每个波段一次）。",
    },
    "tile.colormap_name": {
        "en": "Unknown colormap '{value}'.",
        "zh-CN": "未知的色带“{value}”。",
    },
    "tile.colormap": {
        "en": "The colormap must be a JSON object of pixel value: colour.",
        "zh-CN": "色带必须是“像元值: 颜色”形式的 JSON 对象。",
    },
    "tile.colormap_bands": {
        "en": "A colormap needs exactly one band.",
        "zh-CN": "色带只能用于单个波段。",
    },
    "tile.choice": {
        "en": "'{value}' is not one of: {allowed}.",
        "zh-CN": "“{value}”不是以下之一：{allowed}。",
    },
    "tile.tilejson": {
        "en": "TileJSON describes WebMercatorQuad tiles only.",
        "zh-CN": "TileJSON 仅适用于 WebMercatorQuad 瓦片。",
    },
    "tile.unknown_collection": {
        "en": "Unknown vector collection '{id}'.",
        "zh-CN": "未知的矢量数据集合“{id}”。",
    },
    "tile.read_failed": {
        "en": "The imagery could not be read; try again later.",
        "zh-CN": "影像读取失败，请稍后再试。",
    },
    "tile.read_timeout": {
        "en": "The imagery was not read within {seconds} s; try again later.",
        "zh-CN": "影像未能在 {seconds} 秒内读取，请稍后重试。",
    },
    "title.gone": {"en": "Gone", "zh-CN": "已不存在"},
    "title.unauthorized": {"en": "Authentication failed", "zh-CN": "身份验证失败"},
    "title.forbidden": {"en": "Forbidden", "zh-CN": "无权操作"},
    "auth.required": {
        "en": "This needs authentication: a bearer token or an API key.",
        "zh-CN": "此操作需要身份验证（令牌或 API 密钥）。",
    },
    "auth.forbidden": {
        "en": "Your roles do not allow '{operation}' here.",
        "zh-CN": "您的角色无权在此执行“{operation}”。",
    },
    "auth.failed": {
        "en": "The credentials are not valid.",
        "zh-CN": "凭据无效。",
    },
    "title.too_many_requests": {"en": "Too many requests", "zh-CN": "请求过于频繁"},
    "rate.exceeded": {
        "en": "Too many requests from this caller; retry in {seconds} s.",
        "zh-CN": "该调用方请求过于频繁，请 {seconds} 秒后重试。",
    },
    "rate.failed_auth": {
        "en": "Too many failed authentications from this address; retry in {seconds} s.",
        "zh-CN": "该地址身份验证失败次数过多，请 {seconds} 秒后重试。",
    },
    "title.process_failed": {"en": "Process failed", "zh-CN": "处理失败"},
    # errors: details
    "err.server": {
        "en": "The server could not answer this request; "
        "it has been logged (id {request_id}).",
        "zh-CN": "服务器无法处理该请求，已记录（编号 {request_id}）。",
    },
    "err.unavailable": {
        "en": "The database is not answering for now; retry in {seconds} s.",
        "zh-CN": "数据库暂时无法响应，请 {seconds} 秒后重试。",
    },
    "err.not_found_path": {
        "en": "No resource at {path}.",
        "zh-CN": "路径 {path} 不存在。",
    },
    "err.method": {
        "en": "Method {method} is not allowed here.",
        "zh-CN": "此处不允许 {method} 方法。",
    },
    "err.unknown_collection": {
        "en": "Collection '{id}' does not exist.",
        "zh-CN": "要素集合“{id}”不存在。",
    },
    "err.unknown_feature": {
        "en": "Feature '{id}' does not exist in collection '{collection}'.",
        "zh-CN": "要素集合“{collection}”中不存在要素“{id}”。",
    },
    "err.unknown_param": {
        "en": "Unknown query parameter '{name}'.",
        "zh-CN": "未知的查询参数“{name}”。",
    },
    "err.repeated_param": {
        "en": "Parameter '{name}' is given more than once.",
        "zh-CN": "参数“{name}”重复出现。",
    },
    "err.format": {
        "en": "Unsupported format '{value}'; use one of: {allowed}.",
        "zh-CN": "不支持的格式“{value}”，可用：{allowed}。",
    },
    "err.not_acceptable": {
        "en": "None of the media types in Accept can be served; available: {allowed}.",
        "zh-CN": "无法提供 Accept 中的任何媒体类型，可用：{allowed}。",
    },
    "err.lang": {
        "en": "Unsupported language '{value}'; use zh-CN or en.",
        "zh-CN": "不支持的语言“{value}”，可用 zh-CN 或 en。",
    },
    "err.integer": {
        "en": "'{value}' is not a whole number.",
        "zh-CN": "“{value}”不是整数。",
    },
    "err.limit_range": {
        "en": "limit must be 1 or more, got {value}.",
        "zh-CN": "limit 必须大于等于 1，实际为 {value}。",
    },
    "err.cursor": {
        "en": "not a cursor of this server's next links for this query (ask for the "
        "first page again).",
        "zh-CN": "不是本服务为此查询生成的翻页游标（请重新请求第一页）。",
    },
    "err.cursor_offset": {
        "en": "cursor and offset cannot be combined.",
        "zh-CN": "cursor 与 offset 不能同时使用。",
    },
    "err.offset_range": {
        "en": "offset must be 0 or more, got {value}.",
        "zh-CN": "offset 不能为负数，实际为 {value}。",
    },
    "err.bbox_count": {
        "en": "bbox needs 4 or 6 numbers, got {count}.",
        "zh-CN": "bbox 需要 4 个或 6 个数值，实际为 {count} 个。",
    },
    "err.bbox_number": {
        "en": "bbox value '{value}' is not a finite number.",
        "zh-CN": "bbox 中的“{value}”不是有限数值。",
    },
    "err.bbox_order": {
        "en": "bbox lower {axis} ({low}) is greater than upper {axis} ({high}).",
        "zh-CN": "bbox 的{axis}下限（{low}）大于上限（{high}）。",
    },
    "err.bbox_latitude": {
        "en": "bbox latitude {value} is outside -90..90.",
        "zh-CN": "bbox 纬度 {value} 超出 -90 至 90 的范围。",
    },
    "err.bbox_range": {
        "en": "bbox value {value} is larger than any coordinate (1e15).",
        "zh-CN": "bbox 中的 {value} 超出任何坐标的范围（1e15）。",
    },
    "err.crs_unknown": {
        "en": "CRS '{value}' is not supported here; supported: {allowed}.",
        "zh-CN": "不支持坐标参考系“{value}”，可用：{allowed}。",
    },
    "err.datetime": {
        "en": "'{value}' is not an RFC 3339 date-time or interval "
        "(start/end, '..' open).",
        "zh-CN": "“{value}”不是 RFC 3339 日期时间或区间（起/止，“..”表示不限）。",
    },
    "err.datetime_order": {
        "en": "datetime interval starts after it ends.",
        "zh-CN": "datetime 区间的开始晚于结束。",
    },
    "err.unknown_property": {
        "en": "Unknown property '{name}'.",
        "zh-CN": "未知的属性“{name}”。",
    },
    "err.property_value": {
        "en": "Value '{value}' does not fit property '{name}' ({type}).",
        "zh-CN": "值“{value}”与属性“{name}”的类型（{type}）不符。",
    },
    "err.empty": {"en": "The value is empty.", "zh-CN": "取值为空。"},
    "err.invalid": {"en": "The value is not valid.", "zh-CN": "取值无效。"},
    # HTML and metadata
    "ui.home": {"en": "Home", "zh-CN": "首页"},
    "ui.tiles": {"en": "Tiles", "zh-CN": "瓦片"},
    "ui.map_tiles": {"en": "Map tiles", "zh-CN": "地图瓦片"},
    "ui.grid_WebMercatorQuad": {"en": "Web Mercator", "zh-CN": "Web 墨卡托"},
    "ui.grid_CGCS2000Quad": {
        "en": "CGCS2000 (Tianditu grid)",
        "zh-CN": "2000国家大地坐标系（天地图格网）",
    },
    "ui.tile_matrix_sets": {"en": "Tile matrix sets", "zh-CN": "瓦片矩阵集"},
    "ui.all_layers": {"en": "All vector layers", "zh-CN": "全部矢量图层"},
    "ui.web_map": {"en": "Web map", "zh-CN": "在线地图"},
    "ui.imagery": {"en": "Imagery", "zh-CN": "影像"},
    "ui.before": {"en": "Before", "zh-CN": "前时相"},
    "ui.after": {"en": "After", "zh-CN": "后时相"},
    "ui.swipe": {"en": "Before/after swipe", "zh-CN": "前后时相卷帘对比"},
    "ui.layers": {"en": "Layers", "zh-CN": "图层"},
    "ui.grid": {"en": "Tile grid", "zh-CN": "瓦片网格"},
    "ui.bands": {"en": "Bands", "zh-CN": "波段"},
    "ui.size_px": {"en": "Size (pixels)", "zh-CN": "尺寸（像素）"},
    "ui.resolution": {"en": "Resolution", "zh-CN": "分辨率"},
    "ui.zooms": {"en": "Zoom levels", "zh-CN": "缩放级别"},
    "ui.tileset": {"en": "Tileset", "zh-CN": "瓦片集"},
    "ui.collections": {"en": "Collections", "zh-CN": "数据集合"},
    "ui.collection": {"en": "Collection", "zh-CN": "数据集合"},
    "ui.items": {"en": "Features", "zh-CN": "要素"},
    "ui.item": {"en": "Feature", "zh-CN": "要素"},
    "ui.conformance": {"en": "Conformance", "zh-CN": "符合性声明"},
    "ui.api": {"en": "API definition", "zh-CN": "接口定义"},
    "ui.api_doc": {"en": "API documentation", "zh-CN": "接口文档"},
    "ui.queryables": {"en": "Queryables", "zh-CN": "可查询属性"},
    "ui.history": {"en": "Version history", "zh-CN": "历史版本"},
    "ui.schema": {"en": "Schema", "zh-CN": "要素模式"},
    "ui.schema_json": {"en": "Schema as JSON Schema", "zh-CN": "要素模式（JSON Schema）"},
    "ui.this_document": {"en": "This document", "zh-CN": "本文档"},
    "ui.as_json": {"en": "This document as JSON", "zh-CN": "本文档（JSON）"},
    "ui.as_html": {"en": "This document as HTML", "zh-CN": "本文档（HTML）"},
    "ui.as_geojson": {"en": "This document as GeoJSON", "zh-CN": "本文档（GeoJSON）"},
    "ui.items_json": {"en": "Features as GeoJSON", "zh-CN": "要素（GeoJSON）"},
    "ui.items_html": {"en": "Features as HTML", "zh-CN": "要素（HTML）"},
    "ui.queryables_json": {
        "en": "Queryables as JSON Schema",
        "zh-CN": "可查询属性（JSON Schema）",
    },
    "ui.next": {"en": "Next page", "zh-CN": "下一页"},
    "ui.prev": {"en": "Previous page", "zh-CN": "上一页"},
    "ui.collection_link": {"en": "The collection", "zh-CN": "所属数据集合"},
    "ui.conformance_json": {"en": "Conformance classes", "zh-CN": "符合性类别"},
    "ui.api_json": {
        "en": "API definition (OpenAPI 3.0)",
        "zh-CN": "接口定义（OpenAPI 3.0）",
    },
    "ui.api_html": {"en": "API documentation (HTML)", "zh-CN": "接口文档（HTML）"},
    "ui.data": {"en": "Data collections", "zh-CN": "数据集合"},
    "ui.extent": {"en": "Extent", "zh-CN": "范围"},
    "ui.temporal": {"en": "Time span", "zh-CN": "时间范围"},
    "ui.count": {"en": "Features", "zh-CN": "要素数量"},
    "ui.crs": {"en": "Coordinate reference systems", "zh-CN": "坐标参考系"},
    "ui.storage_crs": {"en": "Storage CRS", "zh-CN": "存储坐标参考系"},
    "ui.property": {"en": "Property", "zh-CN": "属性"},
    "ui.value": {"en": "Value", "zh-CN": "值"},
    "ui.type": {"en": "Type", "zh-CN": "类型"},
    "ui.title": {"en": "Title", "zh-CN": "名称"},
    "ui.returned": {
        "en": "{returned} features shown of {matched}, from {start}",
        "zh-CN": "共 {matched} 个要素，显示 {returned} 个，自第 {start} 个起",
    },
    "ui.returned_nocount": {
        "en": "{returned} features shown, from {start}",
        "zh-CN": "显示 {returned} 个要素，自第 {start} 个起",
    },
    "ui.map_missing": {
        "en": "The map library is not installed (run the set-up command).",
        "zh-CN": "地图库未安装（请运行安装命令）。",
    },
    "ui.language": {"en": "中文", "zh-CN": "English"},
    "ui.error": {"en": "Error", "zh-CN": "错误"},
    "ui.keywords": {"en": "Keywords", "zh-CN": "关键词"},
    "ui.processes": {"en": "Processes", "zh-CN": "处理服务"},
    "ui.processes_json": {"en": "Processes (JSON)", "zh-CN": "处理服务（JSON）"},
    "ui.jobs": {"en": "Jobs", "zh-CN": "作业"},
    "ui.process": {"en": "Process", "zh-CN": "处理过程"},
    "ui.version": {"en": "Version", "zh-CN": "版本"},
    "ui.inputs": {"en": "Inputs", "zh-CN": "输入"},
    "ui.outputs": {"en": "Outputs", "zh-CN": "输出"},
    "ui.required": {"en": "Required", "zh-CN": "必填"},
    "ui.execute": {"en": "Execute", "zh-CN": "执行"},
    "ui.async": {"en": "As a job (asynchronous)", "zh-CN": "作为作业（异步）执行"},
    "ui.status": {"en": "Status", "zh-CN": "状态"},
    "ui.created": {"en": "Created", "zh-CN": "创建时间"},
    "ui.results": {"en": "Results", "zh-CN": "结果"},
    # the process page: readable input types (server/routes/process_page.py)
    "type.string": {"en": "text", "zh-CN": "文本"},
    "type.number": {"en": "number", "zh-CN": "数值"},
    "type.integer": {"en": "integer", "zh-CN": "整数"},
    "type.boolean": {"en": "yes/no (boolean)", "zh-CN": "是/否（布尔值）"},
    "type.object": {"en": "JSON object", "zh-CN": "JSON 对象"},
    "type.object_fields": {
        "en": "object with fields {fields}",
        "zh-CN": "对象（字段：{fields}）",
    },
    "type.any": {"en": "any JSON value", "zh-CN": "任意 JSON 值"},
    "type.with_unit": {"en": "{type} ({unit})", "zh-CN": "{type}（{unit}）"},
    "type.enum": {"en": "one of: {values}", "zh-CN": "取值之一：{values}"},
    "type.array": {"en": "list of {items}", "zh-CN": "列表（元素：{items}）"},
    "type.or": {"en": " or ", "zh-CN": " 或 "},
    "type.collection": {"en": "collection id", "zh-CN": "数据集合 id"},
    "type.href": {
        "en": 'link {"href": URL or path}',
        "zh-CN": '链接 {"href": 网址或路径}',
    },
    "type.link": {"en": "link (URL)", "zh-CN": "链接（网址）"},
    "type.geometry": {"en": "GeoJSON geometry", "zh-CN": "GeoJSON 几何"},
    "type.feature": {"en": "GeoJSON feature", "zh-CN": "GeoJSON 要素"},
    "type.feature_collection": {
        "en": "GeoJSON feature collection",
        "zh-CN": "GeoJSON 要素集合",
    },
    "type.geojson": {"en": "GeoJSON", "zh-CN": "GeoJSON"},
    "type.bbox": {
        "en": "bbox [minLon, minLat, maxLon, maxLat]",
        "zh-CN": "经纬度范围 [最小经度, 最小纬度, 最大经度, 最大纬度]",
    },
    "type.text": {"en": "text ({media})", "zh-CN": "文本（{media}）"},
    "type.base64": {"en": "file ({media}, base64)", "zh-CN": "文件（{media}，base64）"},
    "type.chars": {"en": "length {limit}", "zh-CN": "长度 {limit}"},
    "type.items": {"en": "items {limit}", "zh-CN": "元素个数 {limit}"},
    # the process page: table and execute form
    "ui.default": {"en": "Default", "zh-CN": "默认值"},
    "ui.limits": {"en": "Limits", "zh-CN": "取值范围"},
    "ui.optional": {"en": "optional", "zh-CN": "可选"},
    "ui.required_mark": {"en": "required", "zh-CN": "必填"},
    "ui.no_default": {"en": "none", "zh-CN": "无"},
    "ui.see_fields": {"en": "see its fields", "zh-CN": "见各字段"},
    "ui.json_hint": {
        "en": "JSON; leave empty for the default",
        "zh-CN": "JSON 格式；留空则用默认值",
    },
    "ui.text_or_json_hint": {
        "en": 'an id, or JSON such as {"href": …}',
        "zh-CN": '填写 id，或 JSON 如 {"href": …}',
    },
    "ui.bad_json": {"en": "Not valid JSON: {error}", "zh-CN": "不是有效的 JSON：{error}"},
    "ui.sending": {"en": "Sending…", "zh-CN": "正在提交…"},
    "ui.job_status": {"en": "Job {id}: {status}", "zh-CN": "作业 {id}：{status}"},
    "ui.job_link": {"en": "Job status", "zh-CN": "作业状态"},
    "ui.failed_request": {
        "en": "The request failed ({status}).",
        "zh-CN": "请求失败（{status}）。",
    },
    "ui.network_error": {
        "en": "The server could not be reached.",
        "zh-CN": "无法连接服务器。",
    },
    "ui.sign_in_hint": {
        "en": "Executing needs credentials accepted by this server.",
        "zh-CN": "执行需要本服务器认可的身份凭据。",
    },
}


MESSAGES: dict[str, dict[Language, str]] = {
    **SOURCE_MESSAGES,
    **PROCESS_MESSAGES,
    **_SERVER_MESSAGES,
}


def translate(message_id: str, lang: str, **params: Any) -> str:
    """The message in ``lang`` (falling back to zh-CN), with its placeholders filled."""
    return translate_from(MESSAGES, message_id, lang, **params)
