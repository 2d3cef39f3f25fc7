//! ECS on moto_server, set up as infra.yaml sets up the long runner: a cluster, an arm64
//! Fargate task definition whose container is `runner`, and a VPC's subnet and security
//! group (made with boto3, so that no EC2 client is built for the tests). moto runs no
//! container: a test runs the task's command itself, as the real binary.

use std::process::Command;

use crate::s3::tool;
use crate::S3Server;

pub struct LongRunner {
    pub cluster: String,
    pub task_definition: String,
    pub subnet: String,
    pub security_group: String,
    pub client: aws_sdk_ecs::Client,
}

/// The setup, shared with the browser tests: prints the subnet and security group it made.
const SETUP: &str = include_str!("long_runner.py");

impl LongRunner {
    pub fn on(server: &S3Server) -> Self {
        let out = Command::new(tool("AWS_EXEC_PYTHON", "python3"))
            .arg("-c")
            .arg(SETUP)
            .envs(server.env())
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "setting up ECS on moto: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let made: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let client = aws_sdk_ecs::Client::new(&crate::s3::sdk_config(&server.endpoint));
        LongRunner {
            cluster: "aws-exec".into(),
            task_definition: "aws-exec-runner".into(),
            subnet: made["subnet"].as_str().unwrap().to_owned(),
            security_group: made["sg"].as_str().unwrap().to_owned(),
            client,
        }
    }

    /// Where long jobs run, as the service is told of it, for jobs in `bucket`.
    pub fn config(&self, bucket: &str) -> aws_exec_backend::dispatch::fargate::FargateConfig {
        aws_exec_backend::dispatch::fargate::FargateConfig {
            cluster: self.cluster.clone(),
            task_definition: self.task_definition.clone(),
            subnets: vec![self.subnet.clone()],
            security_groups: vec![self.security_group.clone()],
            container: "runner".into(),
            assign_public_ip: true,
            bucket: bucket.into(),
            max_timeout: std::time::Duration::from_secs(12 * 3600),
        }
    }

    /// The variables that tell the service where long jobs run.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ECS_CLUSTER", self.cluster.clone()),
            ("ECS_TASK_DEFINITION", self.task_definition.clone()),
            ("ECS_SUBNETS", self.subnet.clone()),
            ("ECS_SECURITY_GROUPS", self.security_group.clone()),
        ]
    }

    /// Every task of the cluster, as ECS describes them (on moto each description moves a
    /// task one step on: RUNNING, then STOPPED after about four).
    pub async fn tasks(&self) -> Vec<aws_sdk_ecs::types::Task> {
        let mut arns = Vec::new();
        for status in [
            aws_sdk_ecs::types::DesiredStatus::Running,
            aws_sdk_ecs::types::DesiredStatus::Stopped,
        ] {
            let listed = self
                .client
                .list_tasks()
                .cluster(&self.cluster)
                .desired_status(status)
                .send()
                .await
                .expect("list_tasks");
            arns.extend(listed.task_arns().iter().cloned());
        }
        if arns.is_empty() {
            return Vec::new();
        }
        self.client
            .describe_tasks()
            .cluster(&self.cluster)
            .set_tasks(Some(arns))
            .send()
            .await
            .expect("describe_tasks")
            .tasks()
            .to_vec()
    }
}
