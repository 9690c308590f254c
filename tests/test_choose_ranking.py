"""scripts/choose_ranking.py: candidates judged on validation accuracies of their top architectures over a whole table."""
import sys

import pytest

from tests.conftest import REPO, shared_file

sys.path.insert(0, str(REPO / "scripts"))
import choose_ranking  # noqa: E402

TABLE = REPO / "results" / "tables" / "nb201-cifar10-freerea.csv.gz"


def test_without_the_skip_prior_freerea_tops_the_space_with_worse_cells():
    import pandas as pd

    shared_file("nb201/nb201_hp12_cifar10_valid.csv")
    valid = choose_ranking.validation("hp12", "cifar10")
    result = choose_ranking.judge(pd.read_csv(TABLE), valid, top=10)
    assert list(result.candidate)[-1] == "freerea - skip_prior" and len(result) == len(choose_ranking.CANDIDATES)
    assert result.top10_valid_mean.iloc[-1] < 80 < 83 < result.top10_valid_mean.iloc[0]  # best first
    freerea = result.set_index("candidate").loc["freerea"]
    assert freerea.top1_valid > valid.quantile(0.999) and 0.2 < freerea.kendall_tau < 0.5  # its argmax among the best 16 of 15,625


@pytest.mark.parametrize("bad", [["--valid", "test"], ["--valid", "naslib", "--dataset", "imagenet"], ["--top", "0"]])
def test_bad_arguments_end_in_one_line(capsys, bad):
    assert choose_ranking.main([str(TABLE), *bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
