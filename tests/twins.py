"""``assert_same_function``: a fused supernet and its plain twin agree on outputs, gradients and buffers."""
import torch


def assert_same_function(fused, plain, x: torch.Tensor, alive_sets, train: bool) -> None:
    """For every alive-set: the same outputs, parameter gradients (``None`` alike) and state dicts
    (running statistics, ``num_batches_tracked``) after one forward and backward in ``train`` mode."""
    for alive in alive_sets:
        outs = []
        for net in (fused, plain):
            net.set_alive(alive)
            net.train(train)
            net.zero_grad()
            y = net(x)
            y.square().sum().backward()
            outs.append((y, {n: p.grad for n, p in net.named_parameters()}, {k: v.clone() for k, v in net.state_dict().items()}))
        (y_f, g_f, s_f), (y_p, g_p, s_p) = outs
        torch.testing.assert_close(y_f, y_p, rtol=1e-4, atol=1e-5)
        for name in g_p:
            assert (g_f[name] is None) == (g_p[name] is None), name
            if g_p[name] is not None:
                torch.testing.assert_close(g_f[name], g_p[name], rtol=1e-3, atol=1e-4)
        for key in s_p:
            torch.testing.assert_close(s_f[key], s_p[key], rtol=1e-4, atol=1e-5)
