"""EDM's deterministic sampler (Karras et al. 2022, Algorithm 1 with S_churn = 0), shared by the Python
reference benchmarks: the time steps and the Heun loop around any denoiser den(x, sigma)."""


def time_steps(n=18, smin=0.002, smax=80.0, rho=7.0):
    """EDM's sigma_i for i < n, then sigma_n = 0."""
    t = [(smax ** (1 / rho) + i / (n - 1) * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho for i in range(n)]
    return t + [0.0]


def heun(den, noise, t):
    """x_0 = noise * t_0, Euler steps with the second-order correction except into sigma = 0; 2n - 1 calls."""
    x = noise * t[0]
    for i in range(len(t) - 1):
        tc, tn = t[i], t[i + 1]
        d = (x - den(x, tc)) / tc
        xn = x + d * (tn - tc)
        if i < len(t) - 2:
            d2 = (xn - den(xn, tn)) / tn
            xn = x + (0.5 * d + 0.5 * d2) * (tn - tc)
        x = xn
    return x
