"""Use cases that combine the domains; the CLI, the API and the job queue call these."""

from callvault.services.calls import export_audio
from callvault.services.demo import demo_call, synthesize_demo_wav
from callvault.services.ingest import IngestedCall, ingest_captured, ingest_files

__all__ = [
    "IngestedCall",
    "demo_call",
    "export_audio",
    "ingest_captured",
    "ingest_files",
    "synthesize_demo_wav",
]
