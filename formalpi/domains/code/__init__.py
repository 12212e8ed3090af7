"""Code: HumanEval / MBPP. `domain` (CodeDomain, CodeSettings, the code PI conditions), `judge` (the trusted side),
`sandbox` (the warm sandboxes), `seccomp` (the syscall allowlist), `server` and `wire` (sent into the sandbox)."""
