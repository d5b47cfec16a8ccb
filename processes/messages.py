"""Messages of the processes and their jobs, in zh-CN and en."""

from __future__ import annotations

from typing import Any

from config.i18n import Language, translate_from
from providers.messages import MESSAGES as SOURCE_MESSAGES

MESSAGES: dict[str, dict[Language, str]] = {
    "process.unknown": {
        "en": "Unknown process '{id}'.",
        "zh-CN": "未知的处理过程“{id}”。",
    },
    "process.unknown_job": {"en": "Unknown job '{id}'.", "zh-CN": "未知的作业“{id}”。"},
    "process.body": {
        "en": "The execute request must be a JSON object with 'inputs' (an object).",
        "zh-CN": "执行请求须为 JSON 对象，且含 inputs 对象。",
    },
    "process.inputs": {
        "en": "Invalid inputs: {names} (see invalidInputs).",
        "zh-CN": "输入无效：{names}（详见 invalidInputs）。",
    },
    "process.range": {
        "en": "Give a whole number from 0 to {high}.",
        "zh-CN": "请给出 0 到 {high} 之间的整数。",
    },
    "process.not_ready": {
        "en": "Job '{id}' has no results yet; see its status.",
        "zh-CN": "作业“{id}”尚无结果，请查看其状态。",
    },
    "process.dismissed": {
        "en": "Job '{id}' was dismissed; its results are gone.",
        "zh-CN": "作业“{id}”已撤销，其结果已删除。",
    },
    "process.failed": {"en": "The job failed: {message}", "zh-CN": "作业失败：{message}"},
    "process.timeout": {
        "en": "The job ran longer than {seconds} s and was stopped.",
        "zh-CN": "作业运行超过 {seconds} 秒，已被终止。",
    },
    "process.crashed": {
        "en": "The job stopped unexpectedly (job {job}); an administrator can find it "
        "in the worker's log.",
        "zh-CN": "作业意外中止（作业 {job}），管理员可在工作进程日志中查到。",
    },
    "process.internal": {
        "en": "The process failed (job {job}); an administrator can find it in the "
        "worker's log.",
        "zh-CN": "处理失败（作业 {job}），管理员可在工作进程日志中查到。",
    },
    "process.invalid_inputs": {"en": "The inputs are not valid.", "zh-CN": "输入无效。"},
    "process.worker_lost": {
        "en": "The worker running the job was lost too many times.",
        "zh-CN": "运行该作业的工作进程多次丢失。",
    },
    "process.unknown_collection": {
        "en": "Unknown collection '{id}'.",
        "zh-CN": "未知的数据集合“{id}”。",
    },
    "process.missing_fields": {
        "en": "Collection '{id}' lacks the fields {fields}.",
        "zh-CN": "数据集合“{id}”缺少字段 {fields}。",
    },
    "process.no_features": {
        "en": "No features of '{id}' lie in the area.",
        "zh-CN": "范围内没有“{id}”的要素。",
    },
    "process.bad_bbox": {
        "en": "The bbox must be [minLon, minLat, maxLon, maxLat] with min < max.",
        "zh-CN": "范围须为 [最小经度, 最小纬度, 最大经度, 最大纬度]，"
        "且最小值小于最大值。",
    },
    "process.pdf_unavailable": {
        "en": "PDF reports need WeasyPrint with Pango and a CJK font on the server "
        "(apt-get install libpango-1.0-0 fonts-wqy-microhei).",
        "zh-CN": "PDF 报告需要服务器安装 WeasyPrint、Pango 和中文字体"
        "（apt-get install libpango-1.0-0 fonts-wqy-microhei）。",
    },
    "process.aoi_outside": {
        "en": "The area of interest does not meet the images.",
        "zh-CN": "监测范围与影像不相交。",
    },
    "process.image_unreadable": {
        "en": "An image could not be read.",
        "zh-CN": "影像无法读取。",
    },
    "process.image_bands": {
        "en": "The images need at least {bands} bands (blue, green, red, near infrared).",
        "zh-CN": "影像至少需要 {bands} 个波段（蓝、绿、红、近红外）。",
    },
    "process.no_clear_pixels": {
        "en": "The images have too few clear (cloud-free, valid) pixels in common.",
        "zh-CN": "两期影像共同的无云有效像元太少。",
    },
    "process.bad_geometry": {
        "en": "The area must be a GeoJSON Polygon or MultiPolygon.",
        "zh-CN": "范围须为 GeoJSON Polygon 或 MultiPolygon。",
    },
}


def translate(message_id: str, lang: str, **params: Any) -> str:
    """A process or source message in ``lang`` (a job's failure, for its status)."""
    return translate_from({**SOURCE_MESSAGES, **MESSAGES}, message_id, lang, **params)
