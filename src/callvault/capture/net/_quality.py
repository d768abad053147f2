"""Call quality: the ITU-T G.107 E-model reduced to what a passive capture can know.

Simplifications (documented because a MOS is easy to over-trust):

* R = 93.2 - Id - Ie_eff. The default R0 - Is = 93.2 (G.107 table 1 defaults: no extra
  noise, standard loudness ratings) and the advantage factor A = 0.
* Id uses only the one-way delay Ta estimated from the capture: packetisation (ptime) +
  codec look-ahead + a jitter buffer of twice the mean RFC 3550 jitter (at least one
  packet). Network transit delay cannot be seen from one capture point and is taken as 0,
  so the MOS is an upper bound in that respect. Echo (Idte) is ignored.
* Ie_eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl) with BurstR = 1 (random loss).
  Ie/Bpl come from ITU-T G.113 Appendix I: G.711 without packet-loss concealment
  (Ie 0, Bpl 4.3; callvault conceals with silence, which is what "no PLC" means),
  G.729a with VAD (Ie 11, Bpl 19). G.722 and Opus are wideband; their narrow-band
  equivalents here (G.722 Ie 0 / Bpl 10, Opus Ie 0 / Bpl 12 thanks to its built-in PLC)
  are approximations chosen for this project, not table values, and L16 is treated as
  G.711.
* MOS = 1 + 0.035 R + R (R - 60)(100 - R) 7e-6 (G.107 annex B), 1 below R = 0 and 4.5
  above R = 100.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CodecImpairment", "IMPAIRMENTS", "e_model_r", "mos_from_r"]


class CodecImpairment(NamedTuple):
    ie: float  # equipment impairment factor
    bpl: float  # packet-loss robustness factor
    lookahead_ms: float


IMPAIRMENTS: dict[str, CodecImpairment] = {
    "PCMU": CodecImpairment(0.0, 4.3, 0.0),
    "PCMA": CodecImpairment(0.0, 4.3, 0.0),
    "L16": CodecImpairment(0.0, 4.3, 0.0),
    "G722": CodecImpairment(0.0, 10.0, 1.5),
    "G729": CodecImpairment(11.0, 19.0, 5.0),
    "OPUS": CodecImpairment(0.0, 12.0, 6.5),
}
_UNKNOWN = CodecImpairment(10.0, 10.0, 0.0)


def delay_impairment(ta_ms: float) -> float:
    """Id from the one-way delay alone (the simplified G.107 form used for VoIP)."""
    idd = 0.024 * ta_ms
    if ta_ms > 177.3:
        idd += 0.11 * (ta_ms - 177.3)
    return idd


def e_model_r(codec: str, loss_percent: float, jitter_ms: float, ptime_ms: float = 20.0) -> float:
    """The transmission rating factor R for one leg (see the module docstring)."""
    impairment = IMPAIRMENTS.get(codec.upper(), _UNKNOWN)
    jitter_buffer = max(2.0 * jitter_ms, ptime_ms)
    ta = ptime_ms + impairment.lookahead_ms + jitter_buffer
    ppl = min(max(loss_percent, 0.0), 100.0)
    ie_eff = impairment.ie + (95.0 - impairment.ie) * ppl / (ppl + impairment.bpl)
    return 93.2 - delay_impairment(ta) - ie_eff


def mos_from_r(r: float) -> float:
    """G.107 annex B: the estimated conversational MOS (1.0 to 4.5) for a rating R."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6
