# The governor AMI: Debian 12 with PostgreSQL 15, etcd (for the local gRPC proxy), HAProxy, the
# governor single executable and its systemd units. Build: `make binary` and then
#   cd ami && packer build governor.pkr.hcl          (AWS credentials from the usual chain)
# `make ami-validate` checks this template offline (no AWS credentials needed).
# Instance-specific settings and secrets are not baked in: /etc/governor/environment is written at
# launch (README.md, "Production install (systemd, AMI)").

variable "region" {
  type        = string
  default     = "eu-west-1"
  description = "AWS region to build the AMI in."
}

variable "instance_type" {
  type        = string
  default     = "t3.small"
  description = "Instance type of the temporary build instance."
}

variable "source_ami_name" {
  type        = string
  default     = "debian-12-amd64-*"
  description = "Name filter for the source AMI (Debian's official images; arm64: debian-12-arm64-*, with an arm64 governor binary and instance type)."
}

variable "source_ami_owner" {
  type        = string
  default     = "136693071363"
  description = "Owner of the source AMI (136693071363: Debian)."
}

variable "ami_name_prefix" {
  type    = string
  default = "governor-pg15-debian12"
}

variable "governor_binary" {
  type        = string
  default     = ""
  description = "The governor single executable; empty: dist/governor of this repository (make binary)."
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Subnet of the build instance (empty: the default VPC)."
}

locals {
  governor_binary = var.governor_binary != "" ? var.governor_binary : "${path.root}/../dist/governor"
}

source "amazon-ebs" "debian12" {
  region        = var.region
  instance_type = var.instance_type
  subnet_id     = var.subnet_id
  ssh_username  = "admin"
  ami_name      = "${var.ami_name_prefix}-${formatdate("YYYYMMDD-hhmmss", timestamp())}"

  source_ami_filter {
    filters = {
      name                = var.source_ami_name
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = [var.source_ami_owner]
    most_recent = true
  }

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 16
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    delete_on_termination = true
  }

  tags = {
    Name       = var.ami_name_prefix
    Component  = "governor"
    PostgreSQL = "15"
  }
}

build {
  sources = ["source.amazon-ebs.debian12"]

  provisioner "shell" {
    inline = ["mkdir -p /tmp/governor-ami/ami /tmp/governor-ami/systemd"]
  }

  # The same tree install.sh finds its files in when run from the repository.
  provisioner "file" {
    source      = "${path.root}/"
    destination = "/tmp/governor-ami/ami"
  }

  provisioner "file" {
    source      = "${path.root}/../systemd/"
    destination = "/tmp/governor-ami/systemd"
  }

  provisioner "file" {
    source      = "${path.root}/../README.md"
    destination = "/tmp/governor-ami/README.md"
  }

  provisioner "file" {
    source      = local.governor_binary
    destination = "/tmp/governor-ami/governor"
  }

  provisioner "shell" {
    environment_vars = ["GOVERNOR_BINARY=/tmp/governor-ami/governor"]
    execute_command  = "chmod +x {{ .Path }}; sudo -E {{ .Vars }} {{ .Path }}"
    inline = [
      "/tmp/governor-ami/ami/scripts/provision.sh",
      "rm -rf /tmp/governor-ami",
    ]
  }
}
