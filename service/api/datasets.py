"""Datasets for runs: the built-in `digits`, and uploaded .npz files (x_train, y_train,
x_test, y_test), validated by loading them in a sandboxed child process."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from service.api.deps import ApiClient, SessionDep, SettingsDep
from service.api.errors import api_error, problem_responses
from service.api.uploads import UploadDep, upload_operation
from service.uploads import catalog
from service.uploads.intake import accept_dataset

router = APIRouter(prefix="/datasets", tags=["datasets"], dependencies=[ApiClient], responses=problem_responses(401))

DatasetId = Annotated[
    str,
    Path(
        pattern=catalog.DATASET_ID_PATTERN,
        description="'digits' (built in) or the sha256 of an uploaded .npz",
        examples=[catalog.DIGITS_ID],
    ),
]


class DatasetOut(BaseModel):
    id: str = Field(description="'digits', or the sha256 of the .npz file", examples=[catalog.DIGITS_ID])
    name: str = Field(examples=["digits"])
    kind: Literal["builtin", "npz"] = Field(examples=["builtin"])
    task: Literal["classification", "segmentation"] = Field(examples=["classification"])
    num_classes: int = Field(examples=[10])
    image_shape: list[int] = Field(description="[height, width, channels]", examples=[[8, 8, 1]])
    train_size: int = Field(examples=[1437])
    test_size: int = Field(examples=[360])
    size_bytes: int | None = Field(None, description="Size of the uploaded file; null when built in", examples=[None])
    created_at: datetime | None = Field(None, description="When it was uploaded; null when built in")

    @classmethod
    def of(cls, record: catalog.DatasetRecord) -> DatasetOut:
        return cls(
            id=record.id,
            name=record.name,
            kind=record.kind,  # type: ignore[arg-type]
            task=record.task,  # type: ignore[arg-type]
            num_classes=record.num_classes,
            image_shape=list(record.image_shape),
            train_size=record.train_size,
            test_size=record.test_size,
            size_bytes=record.size_bytes,
            created_at=record.created_at,
        )


_UPLOAD_ERRORS = problem_responses(
    413,
    415,
    422,
    c413="The body is larger than NETADAPT_MAX_UPLOAD_BYTES, or the archive unpacks to more than "
    "NETADAPT_MAX_DATASET_UNCOMPRESSED_BYTES",
    c415="Not an .npz file (not a zip archive)",
    c422="The .npz is refused: missing or extra arrays, wrong shapes, dtypes or labels, members "
    "that are not .npy arrays, path traversal, or it does not load within the memory and time limits",
)


@router.post(
    "",
    summary="Upload an .npz dataset",
    description=(
        "The body is an .npz file's bytes (application/octet-stream) with exactly the arrays x_train, "
        "y_train, x_test, y_test. Images: uint8 or float in [0, 1], (N, H, W, C) with C 1 or 3, or "
        "(N, H, W); labels: integers 0..K-1, (N,) per image or (N, H, W) per pixel, K >= 2, every "
        "test class also in training. The id is the file's sha256: the same file again answers 200. "
        "How runs feed the images to a model (scaling, resizing, channels): POST /v1/runs."
    ),
    **upload_operation(
        DatasetOut, "dataset", "An .npz file as written by numpy.savez or numpy.savez_compressed", _UPLOAD_ERRORS
    ),
)
async def upload_dataset(
    upload: UploadDep,
    session: SessionDep,
    settings: SettingsDep,
    name: Annotated[
        str,
        Query(
            min_length=1,
            max_length=100,
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
            description="A name to show for the dataset (letters, digits, '.', '_', '-')",
            examples=["cifar10-small"],
        ),
    ],
) -> DatasetOut:
    record = await upload.take("upload.npz", lambda received: accept_dataset(session, settings, received, name))
    return DatasetOut.of(record)


@router.get("", response_model=list[DatasetOut], summary="List datasets: the built-in digits, then uploads")
def list_datasets(session: SessionDep) -> list[DatasetOut]:
    return [DatasetOut.of(record) for record in catalog.list_datasets(session)]


@router.get(
    "/{dataset_id}",
    response_model=DatasetOut,
    summary="One dataset",
    responses=problem_responses(404, 422, c404="No dataset with this id", c422="The id is neither 'digits' nor a sha256"),
)
def get_dataset(dataset_id: DatasetId, session: SessionDep) -> DatasetOut:
    record = catalog.find_dataset(session, dataset_id)
    if record is None:
        raise api_error(404, f"no dataset {dataset_id}; GET /v1/datasets lists them ('digits' is built in)")
    return DatasetOut.of(record)
