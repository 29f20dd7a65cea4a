"""``GET /v1/models`` and ``GET /v1/models/{id}``: the served models and aliases, as OpenAI lists them."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Reader, State
from api.errors import AUTH_CODES, SdkErrorRoute, error_responses
from api.openai_wire import ModelList, ModelObject, SdkErrorBody, model_list, model_object

router = APIRouter(prefix="/v1", tags=["embeddings"], route_class=SdkErrorRoute)


@router.get(
    "/models", summary="List the served models", responses=error_responses(*AUTH_CODES, body=SdkErrorBody)
)
async def list_models(state: State, principal: Reader) -> ModelList:
    """The document and query models by name, and every alias (``RAG_MODEL_ALIASES``), once each."""
    return model_list(state.models)


@router.get(
    "/models/{model_id:path}",
    summary="Describe one served model",
    responses=error_responses(*AUTH_CODES, 404, body=SdkErrorBody),
)
async def retrieve_model(model_id: str, state: State, principal: Reader) -> ModelObject:
    """Any name the embeddings routes accept (a hub id may hold ``/``); 404 for another."""
    return model_object(state.models, model_id)
