"""scripts/sample_from_study.py: one pick per disjoint slice, the ranking's best within the slice."""
import sys

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import sample_from_study  # noqa: E402

from tenas.ranking import ranking_from_config  # noqa: E402


def test_each_slice_picks_the_architecture_its_ranking_puts_first():
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"arch": [f"a{i}" for i in range(12)], "meco": rng.normal(size=12), "ntk": rng.normal(size=12)})
    ranking = ranking_from_config(OmegaConf.create({"name": "t", "proxies": ["meco", "ntk"], "aggregation": "rank_sum"}))
    chosen = sample_from_study.picks(scores, ranking, 4)
    assert len(chosen) == 3
    for k, arch in enumerate(chosen["arch"]):
        part = scores.iloc[4 * k : 4 * k + 4]
        # rank sum of meco (higher better) and ntk (lower better): the best is the lowest sum of dense ranks
        total = part["meco"].rank(ascending=False, method="dense") + part["ntk"].rank(ascending=True, method="dense")
        assert arch == part["arch"].iloc[int(np.argmin(total.to_numpy()))]


def test_a_ranking_the_study_did_not_score_is_refused(tmp_path):
    pd.DataFrame({"arch": ["a"], "cifar10": [90.0], "cifar100": [70.0], "ImageNet16-120": [40.0], "meco": [1.0]}).to_csv(tmp_path / "scores.csv", index=False)
    with pytest.raises(SystemExit, match="error: --rankings: the study did not score"):
        sample_from_study.main([str(tmp_path), "--rankings", "az_nas", "--size", "1"])
