output "url" {
  description = "Point the DNS name of public_url at this (a CNAME or an alias record)."
  value       = aws_lb.web.dns_name
}

output "kms_key_arn" {
  description = "HERALD_KMS_KEY_ID; make kms_data_key with it (README: Bootstrap)."
  value       = aws_kms_key.herald.arn
}

output "app_secret_arn" {
  description = "Put Slack, Telegram, network and model secrets here, then list their names in secret_keys."
  value       = aws_secretsmanager_secret.app.arn
}

output "media_bucket" {
  value = aws_s3_bucket.media.bucket
}

output "cluster" {
  value = aws_ecs_cluster.main.name
}

output "migrate" {
  description = "Run before each deploy that changes the schema."
  value       = "aws ecs run-task --cluster ${aws_ecs_cluster.main.name} --launch-type FARGATE --task-definition ${aws_ecs_task_definition.role["migrate"].family} --network-configuration 'awsvpcConfiguration={subnets=[${join(",", aws_subnet.private[*].id)}],securityGroups=[${aws_security_group.app.id}]}'"
}

output "alarm_topic_arn" {
  value = aws_sns_topic.alarms.arn
}
