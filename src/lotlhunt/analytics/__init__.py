"""After detection: explanations, Sigma correlations, rule coverage, behaviour and incidents."""
