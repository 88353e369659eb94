# Keys, secrets, database, Redis and media: all encrypted with the one customer key.

resource "aws_kms_key" "herald" {
  description             = "${local.prefix}: wraps Herald's data key (HERALD_KMS_KEY_ID), RDS, Redis, S3, logs and secrets"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "herald" {
  name          = "alias/${local.prefix}"
  target_key_id = aws_kms_key.herald.key_id
}

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109: in a key policy the resource "*" means this key only
  # checkov:skip=CKV_AWS_111: in a key policy the resource "*" means this key only; the account keeps AWS's default admin
  # checkov:skip=CKV_AWS_356: in a key policy the resource "*" means this key only
  statement {
    sid       = "Account"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
  }
}

# Media (HERALD_MEDIA_BUCKET): private, encrypted, versioned; old versions expire.
resource "aws_s3_bucket" "media" {
  # checkov:skip=CKV_AWS_144: cross-region replication is a disaster-recovery choice, not a default
  # checkov:skip=CKV_AWS_18: access logging needs a second bucket; CloudTrail data events cover it
  # checkov:skip=CKV2_AWS_62: Herald reads its media itself; nothing listens for bucket events
  bucket_prefix = "${local.prefix}-media-"
}

resource "aws_s3_bucket_public_access_block" "media" {
  bucket                  = aws_s3_bucket.media.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "media" {
  bucket = aws_s3_bucket.media.id
  rule { object_ownership = "BucketOwnerEnforced" }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.herald.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "media" {
  bucket = aws_s3_bucket.media.id
  versioning_configuration { status = "Enabled" }
}

resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    id     = "old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration { noncurrent_days = 30 }
    abort_incomplete_multipart_upload { days_after_initiation = 1 }
  }
}

resource "aws_s3_bucket_policy" "media_tls_only" {
  bucket = aws_s3_bucket.media.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "TLSOnly"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.media.arn, "${aws_s3_bucket.media.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}

# Secrets Manager: the app's secrets, read by ECS into the tasks' environment at start.
# Terraform makes the database and Redis passwords; the chat and network secrets are put in
# by hand after the first apply (aws secretsmanager put-secret-value), never into state.
resource "random_password" "db" {
  length  = 40
  special = false
}

resource "random_password" "redis" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "app" {
  # checkov:skip=CKV2_AWS_57: the passwords inside change with the database and Redis; rotate by re-apply
  name_prefix = "${local.prefix}/app-"
  description = "Herald's settings that are secrets: HERALD_DATABASE_URL, HERALD_BROKER_URL, Slack, Telegram, networks, model"
  kms_key_id  = aws_kms_key.herald.arn
}

resource "aws_secretsmanager_secret_version" "app" {
  secret_id = aws_secretsmanager_secret.app.id
  secret_string = jsonencode({
    HERALD_DATABASE_URL = "postgresql+psycopg://herald:${random_password.db.result}@${aws_db_instance.main.endpoint}/herald?sslmode=require"
    HERALD_BROKER_URL   = "rediss://:${random_password.redis.result}@${aws_elasticache_replication_group.main.primary_endpoint_address}:6379/0?ssl_cert_reqs=required"
  })
  # Keys added by hand (HERALD_SLACK_BOT_TOKEN, HERALD_TELEGRAM_TOKEN, ...) survive a re-apply.
  lifecycle { ignore_changes = [secret_string] }
}

resource "aws_db_subnet_group" "main" {
  name       = local.prefix
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_db_parameter_group" "main" {
  name   = local.prefix
  family = "postgres16"
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }
}

# PostgreSQL: Multi-AZ, encrypted, automated backups with point-in-time recovery.
resource "aws_db_instance" "main" {
  # checkov:skip=CKV_AWS_161: IAM database auth needs a token per connection; the password is in Secrets Manager
  # checkov:skip=CKV2_AWS_30: query logging is on for slow statements (log_min_duration_statement)
  identifier                            = local.prefix
  engine                                = "postgres"
  engine_version                        = "16"
  instance_class                        = var.db_instance_class
  allocated_storage                     = var.db_allocated_storage
  max_allocated_storage                 = var.db_allocated_storage * 5
  storage_type                          = "gp3"
  storage_encrypted                     = true
  kms_key_id                            = aws_kms_key.herald.arn
  db_name                               = "herald"
  username                              = "herald"
  password                              = random_password.db.result
  multi_az                              = true
  db_subnet_group_name                  = aws_db_subnet_group.main.name
  vpc_security_group_ids                = [aws_security_group.db.id]
  parameter_group_name                  = aws_db_parameter_group.main.name
  publicly_accessible                   = false
  backup_retention_period               = var.db_backup_days
  backup_window                         = "03:00-04:00"
  maintenance_window                    = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot                 = true
  deletion_protection                   = true
  skip_final_snapshot                   = false
  final_snapshot_identifier             = "${local.prefix}-final"
  auto_minor_version_upgrade            = true
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.herald.arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
}

resource "aws_elasticache_subnet_group" "main" {
  name       = local.prefix
  subnet_ids = aws_subnet.private[*].id
}

# Redis: the Celery broker, rate limits and one-time keys. TLS, a password, a replica in a
# second zone with automatic failover.
resource "aws_elasticache_replication_group" "main" {
  replication_group_id       = local.prefix
  description                = "Herald broker"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = var.redis_node_type
  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true
  port                       = 6379
  subnet_group_name          = aws_elasticache_subnet_group.main.name
  security_group_ids         = [aws_security_group.redis.id]
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.herald.arn
  transit_encryption_enabled = true
  auth_token                 = random_password.redis.result
  snapshot_retention_limit   = 1
  auto_minor_version_upgrade = true
}
