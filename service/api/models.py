"""Uploaded Keras models: upload a .keras file (validated, loaded in a sandboxed child,
analysed), list them, read one's layers, channel groups and costs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from service.api.deps import ApiClient, SessionDep, SettingsDep
from service.api.errors import api_error, problem_responses
from service.api.uploads import UploadDep, upload_operation
from service.db.file_store import SHA256_PATTERN
from service.db.uploads import StoredModel
from service.uploads import catalog
from service.uploads.errors import UploadRejected
from service.uploads.intake import accept_model, model_filename

router = APIRouter(prefix="/models", tags=["models"], dependencies=[ApiClient], responses=problem_responses(401))

_EXAMPLE_ID = "3b1f6c0a5e8d4c2b9a7f1e0d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a493"
ModelId = Annotated[
    str, Path(pattern=SHA256_PATTERN, description="The model's id: the sha256 of its .keras file", examples=[_EXAMPLE_ID])
]


class LayerOut(BaseModel):
    name: str = Field(examples=["conv1"])
    class_name: str = Field(examples=["Conv2D"])
    output_channels: int | None = Field(None, description="Last axis of the layer's output", examples=[32])


class GroupOut(BaseModel):
    """Producer layers whose output channels must lose the same indices."""

    id: str = Field(examples=["g1"])
    channels: int = Field(examples=[32])
    members: list[str] = Field(examples=[["conv1"]])
    consumers: list[str] = Field(default_factory=list, examples=[["conv1_bn", "conv2"]])
    prunable: bool = Field(examples=[True])
    frozen_reason: str | None = Field(None, examples=[None])


class UnsupportedOut(BaseModel):
    layer: str = Field(examples=["lstm"])
    class_name: str = Field(examples=["LSTM"])
    reason: str = Field(examples=["layer 'lstm' of class LSTM is not supported for structural pruning."])


class ModelSummaryOut(BaseModel):
    id: str = Field(description="sha256 of the .keras file", examples=[_EXAMPLE_ID])
    filename: str = Field(examples=["digits.keras"])
    size_bytes: int = Field(examples=[301056])
    created_at: datetime
    name: str | None = Field(None, description="The Keras model's name", examples=["digits_cnn"])
    input_shape: list[int | None] = Field(description="One input, without the batch axis", examples=[[8, 8, 1]])
    num_classes: int | None = Field(
        None, description="Units of the Dense layer making the output; null for other heads", examples=[10]
    )
    macs: int | None = Field(description="Multiply-accumulates per image; null when unsupported", examples=[1792640])
    params: int = Field(examples=[69962])
    supported: bool = Field(description="Whether every layer can be pruned", examples=[True])

    @classmethod
    def fields_of(cls, record: StoredModel) -> dict[str, Any]:
        analysis = catalog.model_analysis(record)
        return {
            "id": record.id,
            "filename": record.filename,
            "size_bytes": record.size_bytes,
            "created_at": record.created_at,
            **{key: analysis.get(key) for key in ("name", "input_shape", "num_classes", "macs", "params", "supported")},
        }

    @classmethod
    def of(cls, record: StoredModel) -> ModelSummaryOut:
        return cls(**cls.fields_of(record))


class ModelOut(ModelSummaryOut):
    input_shapes: list[list[int | None]] = Field(default_factory=list, examples=[[[8, 8, 1]]])
    output_shapes: list[list[int | None]] = Field(default_factory=list, examples=[[[10]]])
    unsupported: list[UnsupportedOut] = Field(description="Layers surgery cannot prune, with the reason")
    layers: list[LayerOut]
    groups: list[GroupOut] = Field(description="Channel groups; prunable ones are what NetAdapt shrinks")

    @classmethod
    def of(cls, record: StoredModel) -> ModelOut:
        analysis = catalog.model_analysis(record)
        detail = {key: analysis.get(key) or [] for key in ("input_shapes", "output_shapes", "unsupported", "layers", "groups")}
        return cls(**cls.fields_of(record), **detail)


_UPLOAD_ERRORS = problem_responses(
    413,
    415,
    422,
    c413="The body is larger than NETADAPT_MAX_UPLOAD_BYTES, or the archive unpacks to more than "
    "NETADAPT_MAX_MODEL_UNCOMPRESSED_BYTES",
    c415="Not a .keras file: a legacy .h5 model, or not a zip archive",
    c422="The .keras file is refused: unexpected members, path traversal, a Lambda layer or custom "
    "object, a layer off the allow-list, it does not load within the memory and time limits, or it "
    "exceeds a model limit",
)
_MODEL_404 = problem_responses(404, c404="No model with this id")


@router.post(
    "",
    summary="Upload a .keras model",
    description=(
        "The body is the .keras file's bytes (application/octet-stream). It is checked as a zip "
        "(members, sizes, no path traversal), its config.json against an allow-list of built-in "
        "Keras layers, then loaded with safe_mode in a child process with a memory and time limit "
        "and analysed (its weights' initializers do not run: the file supplies every weight). The model "
        "must also fit the server's limits: input elements per sample (NETADAPT_MAX_MODEL_INPUT_ELEMENTS), "
        "parameters (NETADAPT_MAX_MODEL_PARAMS) and activation bytes per sample "
        "(NETADAPT_MAX_ACTIVATION_BYTES_PER_SAMPLE). The id is the file's sha256: uploading the same file "
        "again answers 200 with the stored model."
    ),
    **upload_operation(ModelOut, "model", "A Keras 3 model file, as written by model.save('model.keras')", _UPLOAD_ERRORS),
)
async def upload_model(
    upload: UploadDep,
    session: SessionDep,
    settings: SettingsDep,
    filename: Annotated[
        str | None,
        Query(
            max_length=255,
            description="The file's name, kept for display; must end in .keras. Only its last path "
            "component is kept: 'models/v2/digits.keras' and 'C:\\models\\digits.keras' are stored as "
            "'digits.keras'",
            examples=["digits.keras"],
        ),
    ] = None,
) -> ModelOut:
    try:
        name = model_filename(filename)
    except UploadRejected as exc:
        raise api_error(exc.status, str(exc)) from None
    record = await upload.take("upload.keras", lambda received: accept_model(session, settings, received, name))
    return ModelOut.of(record)


@router.get("", response_model=list[ModelSummaryOut], summary="List uploaded models")
def list_models(session: SessionDep) -> list[ModelSummaryOut]:
    return [ModelSummaryOut.of(record) for record in catalog.list_models(session)]


@router.get(
    "/{model_id}",
    response_model=ModelOut,
    summary="A model's layers, channel groups, MACs, params and support",
    responses={**_MODEL_404, **problem_responses(422, c422="The id is not a sha256 hex digest")},
)
def get_model(model_id: ModelId, session: SessionDep) -> ModelOut:
    record = catalog.find_model(session, model_id)
    if record is None:
        raise api_error(404, f"no model {model_id}; GET /v1/models lists the uploaded ones")
    return ModelOut.of(record)
