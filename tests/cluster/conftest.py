from tests.support.cluster import cluster, cluster_url  # noqa: F401 - the session cluster, a vhost per test
