"""scripts/choose_recommended.py: candidates ranked by the 12-epoch validation accuracy of what they found."""
import json
import sys

import pandas as pd
import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import choose_recommended  # noqa: E402

A, B, C = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def test_candidates_are_ranked_by_mean_then_worst_validation_accuracy(tmp_path):
    valid = pd.Series({A: 80.0, B: 70.0, C: 10.0})
    found = {"steady": [A, A], "mixed": [A, B, B], "lucky": [A, C]}  # means 80, 73.3, 45
    for candidate, archs in found.items():
        for k, arch in enumerate(archs):
            (tmp_path / candidate / f"seed{k}").mkdir(parents=True)
            (tmp_path / candidate / f"seed{k}" / "genotype.json").write_text(json.dumps({"arch": arch, "wall_time_s": 10.0 * (k + 1)}))
    table = choose_recommended.candidates(tmp_path, valid)
    assert list(table.index) == ["steady", "mixed", "lucky"]
    assert table.loc["mixed", "valid12_mean"] == pytest.approx(220 / 3) and table.loc["mixed", "valid12_min"] == 70.0
    assert table.loc["lucky", "archs"] == 2 and table.loc["mixed", "runs"] == 3 and table.loc["mixed", "seconds"] == 20.0
    with pytest.raises(SystemExit, match="no <candidate>"):
        choose_recommended.candidates(tmp_path / "steady", valid)
    first = choose_recommended.candidates(tmp_path, valid, ("seed0",))  # one round of seeds: every candidate found A
    assert set(first.valid12_mean) == {80.0} and set(first.runs) == {1}
    later = choose_recommended.candidates(tmp_path, valid, ("seed1", "seed2"))
    assert list(later.index) == ["steady", "mixed", "lucky"] and later.loc["mixed", "runs"] == 2 and later.loc["lucky", "valid12_mean"] == 10.0
    with pytest.raises(SystemExit, match="with a run matching seed9"):
        choose_recommended.candidates(tmp_path, valid, ("seed9",))
