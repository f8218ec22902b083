"""The paper's protocol in one command (`experiment=paper`): tune every cell, run its finals, report."""
