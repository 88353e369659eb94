"""The monthly AWS cost of this stack for 10, 100 and 1,000 users, itemised from us-east-1
list prices (on demand, no free tier, no savings plan). `python infra/terraform/cost.py`
prints the tables the README shows; tests/unit/test_infra.py checks that they agree.

The prices are AWS's public list prices as of 2026-12: change them here when AWS does.
"""

from __future__ import annotations

from dataclasses import dataclass

HOURS = 730  # a month, as AWS bills hourly prices

FARGATE_VCPU_HOUR = 0.04048
FARGATE_GB_HOUR = 0.004445
ALB_HOUR, ALB_LCU_HOUR = 0.0225, 0.008
NAT_HOUR, NAT_GB = 0.045, 0.045
PUBLIC_IPV4_HOUR = 0.005
RDS_HOUR = {"db.t4g.micro": 0.016, "db.t4g.small": 0.032, "db.t4g.medium": 0.065}
RDS_GP3_GB_MONTH = 0.115  # per copy: Multi-AZ keeps two
REDIS_HOUR = {"cache.t4g.micro": 0.016, "cache.t4g.small": 0.032}
WAF_ACL_MONTH, WAF_RULE_MONTH, WAF_MILLION_REQUESTS = 5.0, 1.0, 0.60
KMS_KEY_MONTH, SECRET_MONTH = 1.0, 0.40
LOGS_INGEST_GB, ALARM_METRIC_MONTH, CUSTOM_METRIC_MONTH = 0.50, 0.10, 0.30
S3_GB_MONTH, EGRESS_GB = 0.023, 0.09

ALARMS = 12  # alarm metrics in observe.tf (a metric-math alarm counts each of its metrics)
INSIGHTS_METRICS = 40  # Container Insights: the cluster, its services and task families


@dataclass(frozen=True)
class Tasks:
    count: int
    vcpu: float
    gb: float

    def monthly(self) -> float:
        return self.count * HOURS * (self.vcpu * FARGATE_VCPU_HOUR + self.gb * FARGATE_GB_HOUR)


@dataclass(frozen=True)
class Size:
    """What an install of that many users runs (variables.tf) and uses in a month."""

    web: Tasks
    workers: Tasks
    runners: int  # Slack and/or Telegram runners (0.25 vCPU, 0.5 GB each)
    db: str
    db_gb: int
    redis: str
    lcu: float  # ALB capacity units, on average
    nat_gb: float
    million_requests: float
    log_gb: float
    s3_gb: float
    egress_gb: float


SCHEDULER = Tasks(1, 0.25, 0.5)
SIZES = {
    10: Size(Tasks(2, 0.25, 0.5), Tasks(1, 0.5, 1), 0, "db.t4g.micro", 20, "cache.t4g.micro",
             1, 5, 0.2, 2, 2, 5),
    100: Size(Tasks(2, 0.25, 0.5), Tasks(2, 0.5, 1), 1, "db.t4g.small", 20, "cache.t4g.micro",
              2, 20, 2, 10, 10, 20),
    1000: Size(Tasks(3, 0.5, 1), Tasks(4, 0.5, 1), 2, "db.t4g.medium", 100, "cache.t4g.small",
               5, 100, 20, 60, 100, 150),
}  # fmt: skip


def items(users: int) -> list[tuple[str, float]]:
    s = SIZES[users]
    return [
        ("Fargate: web", s.web.monthly()),
        ("Fargate: workers", s.workers.monthly()),
        ("Fargate: scheduler", SCHEDULER.monthly()),
        ("Fargate: chat runners", Tasks(s.runners, 0.25, 0.5).monthly()),
        ("ALB (hours and capacity units)", HOURS * (ALB_HOUR + s.lcu * ALB_LCU_HOUR)),
        ("NAT gateway (hours and data)", HOURS * NAT_HOUR + s.nat_gb * NAT_GB),
        ("Public IPv4 (ALB in 2 zones, NAT)", 3 * HOURS * PUBLIC_IPV4_HOUR),
        ("RDS PostgreSQL Multi-AZ", 2 * (HOURS * RDS_HOUR[s.db] + s.db_gb * RDS_GP3_GB_MONTH)),
        ("ElastiCache Redis, 2 nodes", 2 * HOURS * REDIS_HOUR[s.redis]),
        ("WAF (ACL, 4 rules, requests)",
         WAF_ACL_MONTH + 4 * WAF_RULE_MONTH + s.million_requests * WAF_MILLION_REQUESTS),
        ("KMS key, Secrets Manager", KMS_KEY_MONTH + SECRET_MONTH),
        ("CloudWatch (logs, alarms, Container Insights)",
         s.log_gb * LOGS_INGEST_GB + ALARMS * ALARM_METRIC_MONTH
         + INSIGHTS_METRICS * CUSTOM_METRIC_MONTH),
        ("S3 media", s.s3_gb * S3_GB_MONTH),
        ("Data out to the internet", s.egress_gb * EGRESS_GB),
    ]  # fmt: skip


def table(users: int) -> str:
    rows = items(users)
    total = sum(cost for _, cost in rows)
    lines = [f"| {users:,} users | $ a month |", "|---|---:|"]
    lines += [f"| {name} | {cost:,.2f} |" for name, cost in rows]
    lines.append(f"| **Total** | **{total:,.2f}** |")
    lines.append(f"| **Per user** | **{total / users:,.2f}** |")
    return "\n".join(lines)


def main() -> None:
    print("\n\n".join(table(users) for users in SIZES))


if __name__ == "__main__":
    main()
