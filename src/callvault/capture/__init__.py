"""Capture sources: each turns something outside into a `CapturedCall`."""

from callvault.capture._records import (
    DIRECTIONS,
    SOURCES,
    CallMetadata,
    CapturedCall,
    Direction,
    DtmfSpan,
    LegFacts,
    NetworkFacts,
    Participant,
)
from callvault.capture.files import (
    CHANNEL_LAYOUTS,
    FileImportOptions,
    import_bytes,
    import_file,
    import_opened,
    parse_channels,
    parse_e164,
    parse_language,
    parse_timestamp,
)

__all__ = [
    "CHANNEL_LAYOUTS",
    "DIRECTIONS",
    "SOURCES",
    "CallMetadata",
    "CapturedCall",
    "Direction",
    "DtmfSpan",
    "LegFacts",
    "NetworkFacts",
    "FileImportOptions",
    "Participant",
    "import_bytes",
    "import_opened",
    "import_file",
    "parse_channels",
    "parse_e164",
    "parse_language",
    "parse_timestamp",
]
