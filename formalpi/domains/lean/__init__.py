"""Lean 4: MiniF2F over the Lean library (`formalpi.lean`: REPL client, pool, verdict, skeletons). `domain`
(LeanDomain; its settings type is the library's `LeanConfig`), `conditions` (the Lean PI conditions)."""
