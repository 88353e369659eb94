variable "name" {
  description = "Prefix of every resource's name."
  type        = string
  default     = "herald"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name: 2-21 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "environment" {
  description = "prod, staging, ... (a tag, and part of names)."
  type        = string
  default     = "prod"
}

variable "region" {
  description = "AWS region. The README's cost figures are us-east-1 list prices."
  type        = string
  default     = "us-east-1"
}

variable "image" {
  description = "Herald's container image (infra/Dockerfile), e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/herald:1.4.0. One image for every role."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for the public host name (the ALB ends TLS with it)."
  type        = string
}

variable "public_url" {
  description = "https://herald.example.com: where Slack, Telegram and OAuth callbacks reach herald web."
  type        = string
  validation {
    condition     = startswith(var.public_url, "https://")
    error_message = "public_url must start with https://: Slack and the networks' OAuth callbacks need TLS."
  }
}

variable "vpc_cidr" {
  type    = string
  default = "10.40.0.0/16"
}

variable "az_count" {
  description = "Availability zones used (2 is the least RDS Multi-AZ and ElastiCache failover need)."
  type        = number
  default     = 2
}

variable "nat_per_az" {
  description = "One NAT gateway per zone (survives a zone outage) instead of one shared (about $33 a month less)."
  type        = bool
  default     = false
}

variable "web" {
  description = "herald web: Fargate size and the task count autoscaling moves between."
  type        = object({ cpu = number, memory = number, min = number, max = number })
  default     = { cpu = 256, memory = 512, min = 2, max = 6 }
}

variable "worker" {
  description = "herald worker: Fargate size and the task count autoscaling moves between (on queue depth)."
  type        = object({ cpu = number, memory = number, min = number, max = number })
  default     = { cpu = 512, memory = 1024, min = 1, max = 8 }
}

variable "scheduler" {
  description = "herald scheduler: exactly one runs (ticks are safe to double, one is enough)."
  type        = object({ cpu = number, memory = number })
  default     = { cpu = 256, memory = 512 }
}

variable "runners" {
  description = "Chat runners to start: slack (Socket Mode) and/or telegram (long polling). Webhook mode needs none: herald web receives them."
  type        = set(string)
  default     = []
  validation {
    condition     = alltrue([for r in var.runners : contains(["slack", "telegram"], r)])
    error_message = "runners: only \"slack\" and \"telegram\"."
  }
}

variable "queue_depth_per_worker" {
  description = "Jobs waiting per worker task that autoscaling aims at."
  type        = number
  default     = 50
}

variable "db_instance_class" {
  type    = string
  default = "db.t4g.micro"
}

variable "db_allocated_storage" {
  description = "GiB of gp3 storage (grows by itself up to 5x)."
  type        = number
  default     = 20
}

variable "db_backup_days" {
  description = "Automated backups kept (point-in-time recovery spans them)."
  type        = number
  default     = 14
}

variable "redis_node_type" {
  type    = string
  default = "cache.t4g.micro"
}

variable "log_days" {
  description = "CloudWatch log retention."
  type        = number
  default     = 30
}

variable "alarm_email" {
  description = "Who gets the CloudWatch alarms and the budget alert (empty: subscribe to the SNS topic yourself)."
  type        = string
  default     = ""
}

variable "monthly_budget_usd" {
  description = "AWS Budgets alert at 80 % and 100 % of this monthly cost."
  type        = number
  default     = 250
}

variable "app_settings" {
  description = "Further HERALD_* settings that are not secret (docs/reference/settings.md), e.g. { HERALD_TIMEZONE = \"Europe/Berlin\" }."
  type        = map(string)
  default     = {}
}

variable "kms_data_key" {
  description = "HERALD_KMS_DATA_KEY: the data key wrapped by this stack's KMS key (base64). Empty on the first apply: the services stay at 0 tasks until it is set (README: Bootstrap)."
  type        = string
  default     = ""
}

variable "secret_keys" {
  description = "Keys you added to the app secret in Secrets Manager (e.g. HERALD_SLACK_BOT_TOKEN), each passed to every task as that variable."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for k in var.secret_keys : can(regex("^HERALD_[A-Z0-9_]+$", k))])
    error_message = "secret_keys: HERALD_* names only."
  }
}
