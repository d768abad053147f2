"""A small outcome model stored in a vault without stored labelled calls: trained on
synthetic features in which the customer's closing sentiment decides the outcome."""

from __future__ import annotations

import json
import random

from callvault.analysis.outcomes import train
from callvault.vault import Vault


def store_synthetic_model(vault: Vault, seed: int = 0) -> str:
    rng = random.Random(seed)
    samples, labels = [], []
    for _ in range(60):
        end = rng.uniform(-1, 1)
        samples.append({"customer_sentiment_end": end, "next_steps": float(rng.randint(0, 2))})
        labels.append(rng.random() < 1 / (1 + pow(2.718, -5 * end)))
    model = train(samples, labels)
    return vault.outcomes.store_model(json.dumps(model.to_json()).encode())
