"""The setting of voice anonymisation for listeners without the compliance role (issue 22)."""

from __future__ import annotations

from callvault.config._values import Setting, parse_choice

__all__ = ["VOICE_ANONYMIZE_MODES", "VOICE_METHODS", "VOICE_SETTINGS"]

# Whose voice a listener without the compliance role hears anonymised.
VOICE_ANONYMIZE_MODES = ("off", "customer", "agent", "all")
# How a voice is anonymised (callvault.media.VOICE_METHODS).
VOICE_METHODS = ("mcadams", "pitch-formant", "both")

VOICE_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "voice_anonymize",
        "Whose voice the audio of a call is anonymised for (by CALLVAULT_VOICE_METHOD, "
        "the same voice throughout a call) when a user without the compliance role "
        "listens to or downloads it from the API or web: off, customer, agent or all.",
        parse_choice(VOICE_ANONYMIZE_MODES),
        lambda: "off",
    ),
    Setting(
        "voice_method",
        "How a voice is anonymised, wherever it is (listening, downloads, exports): "
        "mcadams (McAdams formant shifting, pitch kept), pitch-formant (pitch and formants moved, "
        "Praat's Change gender) or both (pitch-formant, then McAdams). Each speaker "
        "of a call gets their own parameters, the same throughout the call.",
        parse_choice(VOICE_METHODS),
        lambda: "both",
    ),
)
