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
    judged = [name for name, (proxies, _) in choose_ranking.CANDIDATES.items() if "meco" not in proxies and "az_complexity" not in proxies]
    assert list(result.candidate)[-1] == "freerea - skip_prior" and sorted(result.candidate) == sorted(judged)  # the -az candidates need the -az table
    assert result.top10_valid_mean.iloc[-1] < 80 < 83 < result.top10_valid_mean.iloc[0]  # best first
    freerea = result.set_index("candidate").loc["freerea"]
    assert freerea.top1_valid > valid.quantile(0.999) and 0.2 < freerea.kendall_tau < 0.5  # its argmax among the best 16 of 15,625


def test_tables_join_on_the_architecture(tmp_path):
    import pandas as pd
    from scipy.stats import kendalltau

    shared_file("nb201/nb201_hp12_cifar10_valid.csv")
    az = tmp_path / "az.csv"  # the az table in another row order: joined by architecture, not by position
    pd.read_csv(REPO / "results" / "tables" / "nb201-cifar10-az.csv.gz").sample(frac=1.0, random_state=0).to_csv(az, index=False)
    table, problem = choose_ranking.joined([TABLE, az])
    assert problem is None and len(table) == 15625 and {"nwot", "meco", "az_complexity"} <= set(table.columns)
    valid = choose_ranking.validation("hp12", "cifar10")
    result = choose_ranking.judge(table, valid, top=10).set_index("candidate")
    assert len(result) == len(choose_ranking.CANDIDATES)
    # the az table's own ranking column is ensemble's merit over the whole table: the same τ with the validation
    own = pd.read_csv(az).set_index("arch")
    assert result.loc["ensemble", "kendall_tau"] == pytest.approx(kendalltau(own["ranking"], valid.loc[own.index])[0], abs=1e-9)
    assert result.loc["freerea", "kendall_tau"] == pytest.approx(choose_ranking.judge(pd.read_csv(TABLE), valid, 10).set_index("candidate").loc["freerea", "kendall_tau"])


def test_tables_of_other_architectures_are_refused(tmp_path, capsys):
    import pandas as pd

    part = tmp_path / "part.csv"
    pd.read_csv(TABLE).iloc[:-1].to_csv(part, index=False)
    assert choose_ranking.main([str(TABLE), str(part)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "other architectures" in err[0]


@pytest.mark.parametrize("bad", [["--valid", "test"], ["--valid", "naslib", "--dataset", "imagenet"], ["--top", "0"]])
def test_bad_arguments_end_in_one_line(capsys, bad):
    assert choose_ranking.main([str(TABLE), *bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
