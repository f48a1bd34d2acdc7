"""What every other package of ferbench shares, and nothing else: errors, the label scheme,
parameter validation, the rules of model selection on training data, atomic file writes and the
figures of metrics. It imports none of `benchmark`, `deep` or `features`, so those point one way:
`benchmark` (the framework) uses `deep` and `features` (the estimators), and all of them use `core`.
"""
