"""The OpenAPI document: post-processing of FastAPI's output and its snapshot."""
