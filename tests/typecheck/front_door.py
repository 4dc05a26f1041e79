"""What a type checker sees at the front door; tests/test_front_door.py runs mypy on this file
and finds each line's note or error as its comment says (never run, only checked)."""

from typing import reveal_type

import convlens as cl

reveal_type(cl.train)  # def (model: str | torch.nn.modules.module.Module | None =, data: str
reveal_type(cl.train)  # out: str | pathlib.Path | None =, resume: bool =
reveal_type(cl.train)  # **options: Any) -> convlens.api.run.Run
reveal_type(cl.list_models)  # def () -> convlens.models.table.ModelTable
reveal_type(cl.load("runs/x").show)  # kind: str
reveal_type(cl.load("runs/x").show)  # -> convlens.look.picture.Picture
reveal_type(cl.summary)  # -> convlens.models.summary.result.ModelSummary
reveal_type(cl.__version__)  # Revealed type is "str"
cl.trian  # noqa: B018  # Module has no attribute "trian"; maybe "train"?
