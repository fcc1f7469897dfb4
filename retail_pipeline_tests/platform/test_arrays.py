import numpy as np

from retail_pipeline.platform.arrays import runs


def test_runs_of_sorted_codes():
    starts, ends = runs(np.array([3, 3, 5, 7, 7, 7]))
    assert starts.tolist() == [0, 2, 3] and ends.tolist() == [2, 3, 6]
    empty = runs(np.array([], dtype="int64"))
    assert [len(a) for a in empty] == [0, 0]
