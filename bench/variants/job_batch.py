"""The same job as `job.Job.one`, vectorized over a batch of events with numpy."""

import numpy as np
import orjson
from job import Job, result

__all__ = ["BatchJob"]


class BatchJob:
    def __init__(self, job: Job) -> None:
        self.job = job
        self.log = np.array(job.log)
        self.mean = np.array(job.mean)
        self.scale = np.array(job.scale)
        self.centroids = np.array(job.centroids)

    def many(self, values: list[bytes]) -> list[bytes]:
        leads = [orjson.loads(value) for value in values]
        features = self.job.features
        X = np.array([[lead[name] for name in features] for lead in leads], dtype=np.float64)
        X[:, self.log] = np.log1p(X[:, self.log])
        Z = (X - self.mean) / self.scale
        distances = np.sqrt(((Z[:, None, :] - self.centroids[None, :, :]) ** 2).sum(axis=2))
        order = np.argsort(distances, axis=1, kind="stable")[:, :2]  # ties: the first, like argmin
        rows = np.arange(len(values))
        nearest, second = distances[rows, order[:, 0]], distances[rows, order[:, 1]]
        confidence = np.where(second > 0, 1.0 - nearest / np.where(second > 0, second, 1.0), 0.0)
        segments, version = self.job.segments, self.job.version
        return [
            result(lead["lead_id"], segments[i], d, c, version)
            for lead, i, d, c in zip(leads, order[:, 0].tolist(), nearest.tolist(), confidence.tolist(), strict=True)
        ]
