"""Math: MATH / MATH-500 and the procedural arith set. `domain` (MathDomain, MathSettings, the checker's pool),
`answer` (the strict reader of boxed answers), `arith` (the procedural problems), `conditions` (math's own PI)."""
