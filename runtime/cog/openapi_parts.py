"""The fixed parts of the OpenAPI document (cog.schema.openapi_schema assembles it): the routes, the
request and response envelopes, and the Status, WebhookEvent and validation-error schemas, as Cog's
FastAPI app writes them."""

from __future__ import annotations

from typing import Any


def title_of(name: str) -> str:
    return name.title().replace("_", " ")


def status_schema() -> dict[str, Any]:
    return {
        "title": "Status",
        "description": "An enumeration.",
        "enum": ["starting", "processing", "succeeded", "canceled", "failed"],
        "type": "string",
    }


def request_schema(name: str, input_ref: str) -> dict[str, Any]:
    return {
        "title": name,
        "type": "object",
        "properties": {
            "id": {"title": "Id", "type": "string"},
            "input": {"$ref": f"#/components/schemas/{input_ref}"},
            "webhook": {
                "title": "Webhook",
                "type": "string",
                "format": "uri",
                "minLength": 1,
                "maxLength": 65536,
            },
            "webhook_events_filter": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/WebhookEvent"},
                "default": ["start", "output", "logs", "completed"],
            },
            "created_at": {"title": "Created At", "type": "string", "format": "date-time"},
            "output_file_prefix": {"title": "Output File Prefix", "type": "string"},
            "context": {"title": "Context", "type": "object", "additionalProperties": {"type": "string"}},
        },
    }


def response_schema(name: str, input_ref: str, output_ref: str) -> dict[str, Any]:
    return {
        "title": name,
        "type": "object",
        "properties": {
            "input": {"$ref": f"#/components/schemas/{input_ref}"},
            "output": {"$ref": f"#/components/schemas/{output_ref}"},
            "id": {"title": "Id", "type": "string"},
            "version": {"title": "Version", "type": "string"},
            "created_at": {"title": "Created At", "type": "string", "format": "date-time"},
            "started_at": {"title": "Started At", "type": "string", "format": "date-time"},
            "completed_at": {"title": "Completed At", "type": "string", "format": "date-time"},
            "logs": {"title": "Logs", "type": "string", "default": ""},
            "error": {"title": "Error", "type": "string"},
            "status": {"$ref": "#/components/schemas/Status"},
            "metrics": {"title": "Metrics", "type": "object"},
        },
    }


def operation(
    summary: str, op_id: str, request: str | None, response: str | None, params: list[str]
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "operationId": op_id}
    if params:
        op["parameters"] = [
            {"name": p, "in": "path", "required": True, "schema": {"title": title_of(p), "type": "string"}}
            for p in params
        ]
    if request is not None:
        op["parameters"] = op.get("parameters", []) + [
            {
                "name": "prefer",
                "in": "header",
                "required": False,
                "schema": {"title": "Prefer", "type": "string"},
            }
        ]
        op["requestBody"] = {
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{request}"}}}
        }
    ok: dict[str, Any] = {
        "description": "Successful Response",
        "content": {"application/json": {"schema": {}}},
    }
    if response is not None:
        ok["content"]["application/json"]["schema"] = {"$ref": f"#/components/schemas/{response}"}
    responses: dict[str, Any] = {"200": ok}
    if request is not None or params:
        responses["422"] = {
            "description": "Validation Error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
        }
    op["responses"] = responses
    return op


def predict_paths(streaming: bool) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/predictions": {
            "post": operation(
                "Predict", "predict_predictions_post", "PredictionRequest", "PredictionResponse", []
            )
        }
    }
    if streaming:  # @cog.streaming: SSE clients accepted
        paths["/predictions"]["post"]["x-cog-streaming"] = True
    paths["/predictions/{prediction_id}"] = {
        "put": operation(
            "Predict Idempotent",
            "predict_idempotent_predictions__prediction_id__put",
            "PredictionRequest",
            "PredictionResponse",
            ["prediction_id"],
        )
    }
    paths["/predictions/{prediction_id}/cancel"] = {
        "post": operation(
            "Cancel", "cancel_predictions__prediction_id__cancel_post", None, None, ["prediction_id"]
        )
    }
    return paths


def train_paths() -> dict[str, Any]:
    return {
        "/trainings": {
            "post": operation("Train", "train_trainings_post", "TrainingRequest", "TrainingResponse", [])
        },
        "/trainings/{training_id}": {
            "put": operation(
                "Train Idempotent",
                "train_idempotent_trainings__training_id__put",
                "TrainingRequest",
                "TrainingResponse",
                ["training_id"],
            )
        },
        "/trainings/{training_id}/cancel": {
            "post": operation(
                "Cancel Training",
                "cancel_training_trainings__training_id__cancel_post",
                None,
                None,
                ["training_id"],
            )
        },
    }


def fixed_components(components: dict[str, Any]) -> None:
    """The schemas every model's document has: Status, WebhookEvent and the validation errors."""
    components["Status"] = status_schema()
    components["WebhookEvent"] = {
        "title": "WebhookEvent",
        "description": "An enumeration.",
        "enum": ["start", "output", "logs", "completed"],
        "type": "string",
    }
    components["ValidationError"] = {
        "title": "ValidationError",
        "type": "object",
        "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {
                "title": "Location",
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "msg": {"title": "Message", "type": "string"},
            "type": {"title": "Error Type", "type": "string"},
        },
    }
    components["HTTPValidationError"] = {
        "title": "HTTPValidationError",
        "type": "object",
        "properties": {
            "detail": {
                "title": "Detail",
                "type": "array",
                "items": {"$ref": "#/components/schemas/ValidationError"},
            }
        },
    }
