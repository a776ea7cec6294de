"""Review on a Label Studio server through its SDK (`label-studio-sdk`, the `review` extra): push a run's
tasks into a project, made or updated with mbre's labelling config, and pull the answers back.

The API key comes from the environment (`LABEL_STUDIO_API_KEY`), never from a flag or a file, and is masked
in everything mbre writes. The project is remembered in the run directory (`review.json`), so a second push
adds only the sentences the project does not have yet and a pull needs no project id.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ValidationError

from mbre.dataset.labelstudio import MODEL_VERSION, parse_export
from mbre.errors import InputError, MbreError, SettingError
from mbre.files import mask_urls, remember_secret, write_atomic
from mbre.schemas.instances import Instance

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.types import ImportApiRequest, RoleBasedTask

#: Where the API key is read from.
API_KEY_VARIABLE = "LABEL_STUDIO_API_KEY"
#: The run directory's record of its review project.
PROJECT_FILE = "review.json"


class ReviewServerError(MbreError):
    """The Label Studio server refused a request or cannot be reached."""


class ReviewProject(BaseModel):
    """`review.json`: the project a run's tasks went to."""

    url: str
    """The server, without credentials."""
    project: int
    title: str


@dataclass(frozen=True)
class Pushed:
    """What a push did: the project, whether it was made now, and the tasks added and already there."""

    project: ReviewProject
    created: bool
    added: int
    present: int


def connect(url: str) -> LabelStudio:
    """A client for the server at `url`, with the key from the environment."""
    key = os.environ.get(API_KEY_VARIABLE, "")
    if not key:
        raise SettingError(
            f"set {API_KEY_VARIABLE} to your Label Studio access token (Account & Settings in Label Studio)"
        )
    remember_secret(key)
    try:
        from label_studio_sdk import LabelStudio
    except ImportError as exc:
        raise SettingError("the Label Studio SDK is missing: pip install 'mbre[review]'") from exc
    return LabelStudio(base_url=url, api_key=key)


def read_project(run: Path) -> ReviewProject | None:
    path = run / PROJECT_FILE
    if not path.exists():
        return None
    try:
        return ReviewProject.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise InputError.from_validation(str(path), exc) from exc


def push(
    client: LabelStudio,
    url: str,
    run: Path,
    tasks: Sequence[dict[str, Any]],
    config: str,
    *,
    project: int | None = None,
    title: str | None = None,
) -> Pushed:
    """Send the tasks to the project (`project`, else the run's, else a new one titled `title`) with the
    labelling config, pre-labelling from mbre's predictions; tasks whose sentence it holds already are
    not sent again."""
    chosen = _project_of(run, url, project)
    with _calls(url):
        if chosen is None:
            name = title or f"mbre: {run.resolve().name}"
            made = client.projects.create(title=name, label_config=config, model_version=MODEL_VERSION)
            project_id, project_title = made.id, made.title
        else:
            updated = client.projects.update(id=chosen, label_config=config, model_version=MODEL_VERSION)
            project_id, project_title = updated.id, updated.title
        assert project_id is not None  # the server always says the project's id
        listed: Iterator[RoleBasedTask] = iter(client.tasks.list(project=project_id))
        present = {task.data.get("mbre_id") for task in listed if task.data}
        new = [task for task in tasks if task["data"]["mbre_id"] not in present]
        if new:  # the SDK sends plain task dicts as they are
            request = cast("list[ImportApiRequest]", new)
            client.projects.import_tasks(id=project_id, request=request, return_task_ids=True)
    record = ReviewProject(url=mask_urls(url), project=project_id, title=project_title or "")
    write_atomic(run / PROJECT_FILE, record.model_dump_json(indent=2) + "\n")
    return Pushed(project=record, created=chosen is None, added=len(new), present=len(tasks) - len(new))


def pull(client: LabelStudio, url: str, run: Path, project: int | None = None) -> tuple[list[Instance], int]:
    """The project's answers as reviewed sentences, and how many tasks had none; as `review import` reads
    an export file."""
    chosen = _project_of(run, url, project)
    if chosen is None:
        raise SettingError(f"{run} has no review project ({PROJECT_FILE}): push it first, or pass --project")
    with _calls(url):
        document = client.projects.exports.as_json(chosen)
    return parse_export(document, f"{mask_urls(url)} project {chosen}")


@contextmanager
def _calls(url: str) -> Iterator[None]:
    """The SDK's and httpx's errors as one line that names the server (its credentials masked)."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except ApiError as error:
        raise ReviewServerError(
            f"Label Studio at {mask_urls(url)} answered {error.status_code}: {error.body}"
        ) from error
    except httpx.HTTPError as error:
        raise ReviewServerError(f"cannot reach Label Studio at {mask_urls(url)}: {error}") from error


def _project_of(run: Path, url: str, project: int | None) -> int | None:
    """`project`, else the one the run was pushed to on this server."""
    if project is not None:
        return project
    known = read_project(run)
    return known.project if known is not None and known.url == mask_urls(url) else None
