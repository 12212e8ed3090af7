"""Math: MATH / MATH-500 and the procedural arith set. `domain` (MathDomain, MathSettings, the checker's pool);
the strict reader, parser then grader: `extraction` (what a completion boxed), `expression` (one answer read into a
tree), `numerals` (rendering, class counts, exact numerals), `comparison` (the form check and the value); `arith`
(the procedural problems); `conditions` (math's own PI)."""
