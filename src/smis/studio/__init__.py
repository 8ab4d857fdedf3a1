"""smis studio: a local web app to paint label maps and edit the looks of one class at a time.

    smis-studio [--model PATH | --model synthetic] [--host 127.0.0.1] [--port 8765]

Three layers: `session.Studio` (per-session state and every edit, as calls on one
`smis.Synthesizer`), `app.create_app` (the FastAPI app: HTTP only) and static/ (the page: plain
HTML, CSS and JavaScript, nothing loaded from elsewhere). Needs the `studio` extra
(`pip install "groupdnet[studio]"`).
"""

from .session import Studio
from .uploads import Limits, StudioError

__all__ = ["Limits", "Studio", "StudioError", "create_app"]


def create_app(studio: Studio, allowed_hosts=None, **options):
    """The FastAPI app for a Studio (see app.py for `options`); imported lazily so `smis.studio`
    loads without FastAPI."""
    from .app import create_app as create

    return create(studio, allowed_hosts, **options)
