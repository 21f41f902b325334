"""HTTP plumbing shared by every protocol: authentication, request guards, the request log and
the HTTP answer of a refused request."""
