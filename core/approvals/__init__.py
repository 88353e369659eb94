"""Approvals: approve, reject, the approval policy and four eyes."""
