"""Architecture priors (tenas/proxies/priors.py) on hand-checked NAS-Bench-201 cells, and FreeREA's LogSynflow
(tenas/proxies/logsynflow.py) on a network whose gradients are known."""
import math

import pytest
import torch
from torch import nn

from search_spaces import get_space
from search_spaces.nasbench201 import network_for_arch
from tenas.proxies import get_proxy

PRIORS = ("skip_prior", "longest_path", "param_ops")
CELLS = {  # arch: (skip prior, longest path, parametric ops), counted by hand
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": (0.0, 0.0, 0.0),
    "|skip_connect~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|": (1.0, 1.0, 0.0),  # spans 0 and 2
    "|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|": (0.0, 3.0, 0.0),  # a chain of neighbours
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|": (2.0, 3.0, 5.0),
    "|nor_conv_1x1~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|none~1|nor_conv_3x3~2|": (1.0, 3.0, 2.0),  # skip 0->2 spans 1
    "|avg_pool_3x3~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|": (0.0, 2.0, 1.0),  # node 2 unreached; 0->1->3
    "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|": (0.0, 0.0, 2.0),  # output cut off from the input
}


@pytest.mark.parametrize("arch", CELLS)
def test_priors_on_hand_checked_cells(arch):
    net = network_for_arch(arch, C=1, N=1)
    assert tuple(get_proxy(name)(net, None) for name in PRIORS) == CELLS[arch]


def test_priors_read_the_supernet_alive_set_and_refuse_a_plain_module():
    space = get_space("nasbench201")
    net = space.build_supernet(num_classes=10)
    for arch, expected in CELLS.items():
        with net.trying(space.alive_set_for(arch)):
            assert tuple(get_proxy(name)(net, None) for name in PRIORS) == expected
    # in the middle of pruning every alive op counts: the full supernet holds one skip on each of the six edges
    full = space.full_alive_set()
    with net.trying(full):
        assert get_proxy("skip_prior")(net, None) == pytest.approx((0 + 1 + 0 + 2 + 1 + 0) / 6)
        assert get_proxy("param_ops")(net, None) == 12 and get_proxy("longest_path")(net, None) == 3
    with pytest.raises(ValueError, match="does not state its architecture"):
        get_proxy("skip_prior")(nn.Linear(3, 2), None)


def test_logsynflow_takes_the_log_per_weight():
    """One Linear on an all-ones input: R = Σ|w| + |b|, ∂R/∂w = 1, so the score is Σ|w| log 2 (synflow's log of
    the total would be log Σ|w|)."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[1.0, -2.0, 0.5, 3.0]]))
    assert get_proxy("logsynflow")(net, torch.zeros(2, 4)) == pytest.approx(6.5 * math.log(2))
    # two layers: ∂R/∂w1_j = |w2| (one hidden unit), ∂R/∂w2 = Σ_j |w1_j| (no bias): each log taken on its own
    net = nn.Sequential(nn.Flatten(), nn.Linear(3, 1, bias=False), nn.ReLU(), nn.Linear(1, 1, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[1.0, 2.0, 3.0]]))
        net[3].weight.fill_(-4.0)
    expected = 6.0 * math.log1p(4.0) + 4.0 * math.log1p(6.0)
    assert get_proxy("logsynflow")(net, torch.zeros(1, 3)) == pytest.approx(expected)
    assert net[3].weight.item() == -4.0  # the model is never touched
