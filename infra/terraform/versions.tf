terraform {
  required_version = ">= 1.6"
  required_providers {
    aws    = { source = "hashicorp/aws", version = "~> 5.60" }
    random = { source = "hashicorp/random", version = "~> 3.6" }
  }
  # State: keep it remote and locked for a team, e.g.
  #   terraform init -backend-config="bucket=my-tf-state" -backend-config="key=herald.tfstate" \
  #     -backend-config="region=us-east-1" -backend-config="dynamodb_table=tf-locks"
  backend "s3" {}
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { Project = "herald", Environment = var.environment, ManagedBy = "terraform" }
  }
}

data "aws_availability_zones" "available" {
  # checkov:skip=CKV_AWS_394: the first var.az_count zones by name are used; a zone AWS adds sorts after them
  state = "available"
}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
