# One image, one task definition per role, one Fargate service each. The database is
# migrated by a one-off task (`herald db upgrade`) before the services roll.

locals {
  ready = var.kms_data_key != ""
  environment = merge(
    {
      HERALD_PUBLIC_URL   = var.public_url
      HERALD_MEDIA_BUCKET = aws_s3_bucket.media.bucket
      HERALD_KMS_KEY_ID   = aws_kms_key.herald.arn
      HERALD_KMS_DATA_KEY = var.kms_data_key
      HERALD_QUEUE        = local.prefix
      HERALD_LOG_LEVEL    = "INFO"
      # The scheduler prints the backlog as CloudWatch metrics (Herald/QueueDepth and
      # QueueLagSeconds by Install = HERALD_QUEUE): worker autoscaling and the lag alarm.
      HERALD_CLOUDWATCH_NAMESPACE = "Herald"
      HERALD_DATA_DIR             = "/data"
      AWS_REGION                  = var.region
      MPLCONFIGDIR                = "/tmp/matplotlib"
    },
    var.app_settings,
  )
  secrets = concat(["HERALD_DATABASE_URL", "HERALD_BROKER_URL"], var.secret_keys)
  roles = merge(
    {
      web       = { command = ["web", "--host", "0.0.0.0", "--port", "8000"], cpu = var.web.cpu, memory = var.web.memory, count = var.web.min }
      worker    = { command = ["worker"], cpu = var.worker.cpu, memory = var.worker.memory, count = var.worker.min }
      scheduler = { command = ["scheduler"], cpu = var.scheduler.cpu, memory = var.scheduler.memory, count = 1 }
    },
    { for r in var.runners : r => { command = [r], cpu = 256, memory = 512, count = 1 } },
  )
}

resource "aws_ecs_cluster" "main" {
  name = local.prefix
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_cluster_capacity_providers" "main" {
  cluster_name       = aws_ecs_cluster.main.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]
}

resource "aws_cloudwatch_log_group" "role" {
  # checkov:skip=CKV_AWS_338: retention is var.log_days (30 by default): a year of logs is a compliance choice that costs
  for_each          = merge(local.roles, { migrate = {} })
  name              = "/herald/${var.environment}/${each.key}"
  retention_in_days = var.log_days
  kms_key_id        = aws_kms_key.herald.arn
}

resource "aws_ecs_task_definition" "role" {
  for_each                 = merge(local.roles, { migrate = { command = ["db", "upgrade"], cpu = 256, memory = 512, count = 0 } })
  family                   = "${local.prefix}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  volume { name = "data" }
  volume { name = "tmp" }
  container_definitions = jsonencode([{
    name                   = each.key
    image                  = var.image
    command                = each.value.command
    essential              = true
    readonlyRootFilesystem = true
    user                   = "10001:10001"
    environment            = [for k, v in local.environment : { name = k, value = v } if v != ""]
    secrets                = [for k in local.secrets : { name = k, valueFrom = "${aws_secretsmanager_secret.app.arn}:${k}::" }]
    mountPoints = [
      { sourceVolume = "data", containerPath = "/data" },
      { sourceVolume = "tmp", containerPath = "/tmp" },
    ]
    portMappings = each.key == "web" ? [{ containerPort = 8000, protocol = "tcp" }] : []
    # A worker's SIGTERM is warm: running publishes finish and held jobs go back to Redis.
    stopTimeout = each.key == "worker" ? 60 : 30
    healthCheck = each.key == "web" ? {
      command     = ["CMD", "python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 20
    } : null
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.role[each.key].name
        awslogs-region        = var.region
        awslogs-stream-prefix = each.key
      }
    }
  }])
}

resource "aws_ecs_service" "role" {
  for_each               = local.roles
  name                   = each.key
  cluster                = aws_ecs_cluster.main.id
  task_definition        = aws_ecs_task_definition.role[each.key].arn
  desired_count          = local.ready ? each.value.count : 0
  launch_type            = "FARGATE"
  enable_execute_command = false
  propagate_tags         = "SERVICE"
  # Telegram allows one long poll per bot: never two runners at once, even during a deploy.
  deployment_minimum_healthy_percent = each.key == "telegram" ? 0 : 100
  deployment_maximum_percent         = each.key == "telegram" ? 100 : 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.app.id]
    assign_public_ip = false
  }
  dynamic "load_balancer" {
    for_each = each.key == "web" ? [1] : []
    content {
      target_group_arn = aws_lb_target_group.web.arn
      container_name   = "web"
      container_port   = 8000
    }
  }
  lifecycle { ignore_changes = [desired_count] } # autoscaling owns it after the first apply
  depends_on = [aws_lb_listener.https]
}

# Autoscaling: web on CPU, workers on the jobs waiting per worker.
resource "aws_appautoscaling_target" "web" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.role["web"].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.web.min
  max_capacity       = var.web.max
}

resource "aws_appautoscaling_policy" "web_cpu" {
  name               = "${local.prefix}-web-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.web.service_namespace
  resource_id        = aws_appautoscaling_target.web.resource_id
  scalable_dimension = aws_appautoscaling_target.web.scalable_dimension
  target_tracking_scaling_policy_configuration {
    target_value       = 60
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_target" "worker" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.role["worker"].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.worker.min
  max_capacity       = var.worker.max
}

# Jobs waiting per running worker: Herald's own QueueDepth metric (the scheduler's embedded-
# metric-format line, bot/emf.py) divided by the running task count, tracked at
# var.queue_depth_per_worker.
resource "aws_appautoscaling_policy" "worker_queue" {
  name               = "${local.prefix}-worker-queue"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  resource_id        = aws_appautoscaling_target.worker.resource_id
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension
  target_tracking_scaling_policy_configuration {
    target_value       = var.queue_depth_per_worker
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    customized_metric_specification {
      metrics {
        id          = "depth"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "Herald"
            metric_name = "QueueDepth"
            dimensions {
              name  = "Install"
              value = local.prefix
            }
          }
        }
      }
      metrics {
        id          = "workers"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"
            dimensions {
              name  = "ClusterName"
              value = aws_ecs_cluster.main.name
            }
            dimensions {
              name  = "ServiceName"
              value = "worker"
            }
          }
        }
      }
      metrics {
        id          = "per_worker"
        expression  = "depth / IF(workers > 0, workers, 1)"
        label       = "jobs waiting per worker"
        return_data = true
      }
    }
  }
}
