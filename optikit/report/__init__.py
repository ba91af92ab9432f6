"""``optikit report``: the suite's time and the gate's verdicts as markdown, JSON and HTML."""
