"""A practitioner's table, as the README's "Your own data" section uses it.

Three sites (hospitals) with a covariate shift between them, two lab values that go
missing at random, a categorical ward column with missing cells, and about 10% positive
outcomes whose probability depends on age and the labs the same way at every site.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SITES = {"north": 0.0, "south": 0.6, "east": 1.4}  # how far each site's patients shift


def clinic_table(n_per_site: int = 240, seed: int = 0) -> pd.DataFrame:
    """The table (label column ``outcome``: "yes" / "no"; domain column ``site``)."""
    rng = np.random.default_rng(seed)
    parts = []
    for site, shift in SITES.items():
        n = n_per_site
        age = rng.normal(55 + 8 * shift, 12, n)
        lab1 = rng.normal(1.0 * shift, 1.0, n)
        lab2 = rng.normal(-0.5 * shift, 1.0, n) + 0.3 * lab1
        ward = rng.choice(["cardio", "general", "icu"], n,
                          p=np.array([0.3, 0.6, 0.1]) if shift < 1 else [0.2, 0.4, 0.4])
        logit = -3.6 + 1.6 * lab1 - 1.1 * lab2 + 0.04 * (age - 60) + 0.8 * (ward == "icu")
        logit -= 1.6 * shift  # the positive rate stays near 10% at every site
        outcome = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
        frame = pd.DataFrame({"site": site, "age": age.round(1), "lab1": lab1.round(3),
                              "lab2": lab2.round(3), "ward": ward, "outcome": outcome})
        for col, rate in (("lab1", 0.05), ("lab2", 0.08)):
            frame.loc[rng.random(n) < rate, col] = np.nan
        frame.loc[rng.random(n) < 0.05, "ward"] = None
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def write_readme_files(folder, seed: int = 0) -> dict:
    """``clinics.csv`` (what the user has) and ``new_east_rows.csv`` (held-back east rows,
    labels removed, to predict). Returns the held-back rows' true outcomes."""
    table = clinic_table(seed=seed)
    rng = np.random.default_rng(seed + 1)
    east = np.flatnonzero(table["site"] == "east")
    held = rng.choice(east, size=len(east) // 4, replace=False)
    rest = table.drop(index=held)
    rest.to_csv(f"{folder}/clinics.csv", index=False)
    new = table.loc[held].drop(columns=["outcome"]).sample(frac=1.0, random_state=seed)
    # Columns in another order than the training table: predict matches them by name.
    new[["ward", "site", "lab2", "age", "lab1"]].to_csv(f"{folder}/new_east_rows.csv",
                                                        index=False)
    return {"truth": table.loc[new.index, "outcome"].to_numpy(), "n_held": len(held)}
