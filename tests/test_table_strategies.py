"""scripts/table_strategies.py: each strategy's pick against its budget, from real searches on a score table."""
import sys

import pandas as pd
import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import table_strategies  # noqa: E402

TABLE = REPO / "results" / "tables" / "nb201-cifar10-freerea.csv.gz"


@pytest.mark.slow
def test_picks_are_those_of_searches_of_each_budget(tmp_path, nb201_csv):
    out = tmp_path / "out"
    argv = [str(TABLE), "--benchmark", str(nb201_csv), "--strategies", "sample,evolve_freerea", "--seeds", "2", "--budget", "200", "--out", str(out)]
    assert table_strategies.main(argv) == 0  # it also checks a smaller search's pick against the prefix pick
    picks = pd.read_csv(out / "picks.csv")
    assert sorted(picks.budget.unique()) == [10, 20, 50, 100, 200] and len(picks) == 2 * 2 * 5
    truth = pd.read_csv(nb201_csv).set_index("arch_str")["cifar10_test"]
    assert picks.accuracy.to_numpy() == pytest.approx(truth.loc[picks.arch].to_numpy())
    # every strategy draws the same first architectures from a seed: below the population size they pick alike
    small = picks[picks.budget <= 50].pivot_table(index=["seed", "budget"], columns="strategy", values="arch", aggfunc="first")
    assert (small["sample"] == small["evolve_freerea"]).all()
    # the budget-200 search of evolve_freerea is the one the full search makes (checked by the script); it finds the table's argmax
    assert picks[(picks.strategy == "evolve_freerea") & (picks.budget == 200)].is_table_argmax.all()
    assert (out / "picks.png").stat().st_size > 0 and "± " in (out / "summary.md").read_text()


@pytest.mark.parametrize("bad", [["--strategies", "anneal"], ["--dataset", "mnist"], ["--truth", "valid12", "--dataset", "cifar100"],
                                 ["--seeds", "1"], ["ranking.aggregation=median"]])
def test_bad_arguments_end_in_one_line_and_write_nothing(tmp_path, capsys, nb201_csv, bad):
    out = tmp_path / "out"
    assert table_strategies.main([str(TABLE), "--benchmark", str(nb201_csv), "--out", str(out), *bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and not out.exists()
