"""HTTP plumbing shared by every protocol: authentication, request guards, the request log."""
