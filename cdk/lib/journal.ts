/**
 * The journal database (journal=aurora): a two-AZ VPC whose executors reach the internet
 * through one NAT (an instance by default), and Aurora PostgreSQL Serverless v2 in isolated
 * subnets.
 */
import { CfnOutput, Duration, Names, RemovalPolicy, Stack, Validations, CfnResource } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { AURORA_MAX_ACU, VPC_CIDR } from './common';
import { PipelineConfig } from './config';
import { Concern, stableUniqueId } from './ids';

/**
 * The NAT instance's first-boot script: what NatProvider.instanceV2 configures by default
 * (iptables-services, IP forwarding, masquerade on the default interface, an open FORWARD
 * chain, rules saved for reboots), with the package install retried. On Amazon Linux 2023
 * other first-boot package jobs can run at the same time and delete the package cache under
 * the install, which then fails and leaves a NAT that forwards nothing.
 */
export const NAT_USER_DATA_COMMANDS = [
  'set -u',
  'for attempt in 1 2 3 4 5 6; do',
  '  dnf install -y iptables-services && break',
  '  echo "iptables-services install failed (attempt $attempt of 6), retrying in 10 s" >&2',
  '  sleep 10',
  'done',
  'rpm -q iptables-services || { echo "iptables-services is not installed: this NAT forwards nothing" >&2; exit 1; }',
  'systemctl enable --now iptables',
  'echo "net.ipv4.ip_forward=1" > /etc/sysctl.d/90-nat-forwarding.conf',
  'sysctl -p /etc/sysctl.d/90-nat-forwarding.conf',
  // `ip` (iproute) is in every AL2023 image; the interface name differs between instance types.
  'IFACE=$(ip route show default | awk \'{print $5; exit}\')',
  'iptables -t nat -A POSTROUTING -o "$IFACE" -j MASQUERADE',
  'iptables -F FORWARD',
  // Saved where the iptables service loads its rules at boot, so a reboot (the status check
  // alarm's action) or a recovery keeps the NAT working; user data itself runs only once.
  'iptables-save > /etc/sysconfig/iptables',
];

export interface JournalDatabaseProps {
  readonly config: PipelineConfig;
  readonly stackName: string;
}

export class JournalDatabase extends Concern {
  readonly vpc: ec2.Vpc;
  readonly executorSg: ec2.SecurityGroup;
  readonly cluster: rds.DatabaseCluster;
  /** With nat=instance. */
  readonly natInstance?: ec2.Instance;
  /** The stable public address the executors' traffic leaves from (brokers' IP allowlists). */
  readonly egressIp: ec2.CfnEIP;

  constructor(scope: Construct, id: string, props: JournalDatabaseProps) {
    super(scope, id);
    const cfg = props.config;

    const natProvider =
      cfg.nat === 'gateway'
        ? ec2.NatProvider.gateway()
        : ec2.NatProvider.instanceV2({
            instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.NANO),
            // Resolved once and kept in cdk.context.json: without the cache every deploy would
            // read the newest image and replace the instance whenever one is published.
            machineImage: ec2.MachineImage.latestAmazonLinux2023({
              cpuType: ec2.AmazonLinuxCpuType.ARM_64,
              cachedInContext: true,
            }),
            defaultAllowedTraffic: ec2.NatTrafficDirection.OUTBOUND_ONLY,
            creditSpecification: ec2.CpuCredits.STANDARD,
            userData: natUserData(),
          });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(VPC_CIDR),
      maxAzs: 2,
      natGateways: 1,
      natGatewayProvider: natProvider,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'executors', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
        { name: 'database', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      // DynamoDB through a free gateway endpoint, so idempotency traffic skips the NAT.
      gatewayEndpoints: { DynamoDb: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB } },
      flowLogs: {
        rejected: {
          trafficType: ec2.FlowLogTrafficType.REJECT,
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'VpcFlowLogs', {
              retention: logs.RetentionDays.ONE_MONTH,
              removalPolicy: RemovalPolicy.DESTROY,
            }),
          ),
        },
      },
    });

    if (natProvider instanceof ec2.NatInstanceProviderV2) {
      natProvider.connections.allowFrom(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.allTraffic(), 'from the VPC');
      const [instance] = natProvider.gatewayInstances;
      this.natInstance = instance;
      // An Elastic IP replaces the address assigned at launch: it stays through stop/start,
      // a reboot, a recovery, and a replacement of the instance (CloudFormation moves it).
      this.egressIp = new ec2.CfnEIP(this, 'NatEip', { domain: 'vpc', instanceId: instance.instanceId });
      // An Elastic IP associated with an instance needs the VPC's internet gateway attached
      // first (AWS::EC2::EIP documentation: DependsOn the VPCGatewayAttachment).
      this.egressIp.addDependency(this.vpc.node.findChild('VPCGW') as CfnResource);
      Validations.of(instance).acknowledge({
        id: 'AwsSolutions-EC28',
        reason:
          'Detailed monitoring adds 1-minute CPU and network metrics at custom metric prices. The ' +
          'recovery and reboot alarms read the status check metrics, which EC2 publishes every ' +
          'minute without it.',
      });
      Validations.of(instance).acknowledge({
        id: 'AwsSolutions-EC26',
        reason:
          'The root volume holds only the operating system and the iptables rules its user data ' +
          'writes, no data of the pipeline; NatProvider offers no block device settings.',
      });
      Validations.of(instance).acknowledge({
        id: 'AwsSolutions-EC29',
        reason:
          'Termination protection is off so that CloudFormation can replace the instance (a new ' +
          'image or instance type) and delete it with the stack. The instance holds no state: its ' +
          'user data rebuilds the NAT, and its Elastic IP moves to a replacement. Failures are ' +
          'covered by the status check alarms (EC2 recover and reboot actions), not by an Auto ' +
          'Scaling group; an instance terminated by hand stays gone until an operator redeploys.',
      });
    } else {
      // NatProvider.gateway() gives the gateway an Elastic IP of its own, in the first public subnet.
      this.egressIp = this.vpc.publicSubnets[0].node.findChild('EIP') as ec2.CfnEIP;
    }
    new CfnOutput(this, 'EgressIp', {
      description: 'The public address executor traffic leaves from (for broker IP allowlists)',
      value: this.egressIp.attrPublicIp,
    });

    this.executorSg = new ec2.SecurityGroup(this, 'ExecutorSg', {
      vpc: this.vpc,
      description: 'Executors: HTTPS to brokers and AWS APIs, PostgreSQL to the journal',
      allowAllOutbound: false,
    });
    this.executorSg.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to brokers and AWS APIs');
    const dbSg = new ec2.SecurityGroup(this, 'JournalSg', {
      vpc: this.vpc,
      description: 'Journal database: PostgreSQL from the executors only',
      allowAllOutbound: false,
    });
    // The two rules between the groups, under the ids SecurityGroup.addIngressRule and
    // addEgressRule give them when the groups sit in the stack itself: CloudFormation would
    // otherwise create each rule again before deleting the old one, which EC2 refuses as a
    // duplicate.
    new ec2.CfnSecurityGroupIngress(dbSg, `from ${stableUniqueId(this.executorSg)}:5432`, {
      groupId: dbSg.securityGroupId,
      ipProtocol: 'tcp',
      fromPort: 5432,
      toPort: 5432,
      sourceSecurityGroupId: this.executorSg.securityGroupId,
      description: 'PostgreSQL from the executors',
    });
    new ec2.CfnSecurityGroupEgress(this.executorSg, `to ${stableUniqueId(dbSg)}:5432`, {
      groupId: this.executorSg.securityGroupId,
      ipProtocol: 'tcp',
      fromPort: 5432,
      toPort: 5432,
      destinationSecurityGroupId: dbSg.securityGroupId,
      description: 'PostgreSQL to the journal',
    });

    const pause = cfg.auroraAutoPauseMinutes;
    const clusterIdentifier = `${props.stackName}-journal`.toLowerCase();
    // Created here rather than through cloudwatchLogsRetention, which would add a
    // log-retention Lambda with a wildcard policy.
    const dbLogs = new logs.LogGroup(this, 'JournalLogs', {
      logGroupName: `/aws/rds/cluster/${clusterIdentifier}/postgresql`,
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const engine = rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_6 });
    // Aurora pauses only while no session is open. The executors' journal sets PostgreSQL's
    // idle_session_timeout (60 s) on each of its own sessions at connect, so no parameter group
    // is needed and a frozen Lambda container cannot keep the cluster awake.
    this.cluster = new rds.DatabaseCluster(this, 'Journal', {
      engine,
      writer: rds.ClusterInstance.serverlessV2('writer'),
      // 0 ACU (paused) needs Aurora PostgreSQL 16.3+ and an auto-pause delay.
      serverlessV2MinCapacity: pause > 0 ? 0 : 0.5,
      serverlessV2MaxCapacity: AURORA_MAX_ACU,
      serverlessV2AutoPauseDuration: pause > 0 ? Duration.minutes(pause) : undefined,
      credentials: rds.Credentials.fromGeneratedSecret('journal'),
      defaultDatabaseName: 'journal',
      vpc: this.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [dbSg],
      storageEncrypted: true,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      backup: { retention: Duration.days(7) },
      clusterIdentifier,
      cloudwatchLogsExports: ['postgresql'],
    });
    this.cluster.node.addDependency(dbLogs);
    keepSecretLogicalId(this.cluster);
    Validations.of(this.cluster).acknowledge({
      id: 'AwsSolutions-RDS6',
      reason: 'The journal connects with sqlx and a password URL from SSM; IAM tokens expire every 15 minutes and the executors do not renew them.',
    });
    Validations.of(this.cluster).acknowledge({
      id: 'AwsSolutions-RDS11',
      reason: 'The database sits in isolated subnets and admits only the executor security group; a custom port adds nothing there.',
    });
    Validations.of(this.cluster).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'The operator copies the password into the JOURNAL_URL SecureString once; rotation would break that copy silently.',
    });
    new CfnOutput(this, 'JournalSecretArn', {
      description: 'Generated database credentials; build the JOURNAL_URL from them (README)',
      value: this.cluster.secret?.secretArn ?? '',
    });
    new CfnOutput(this, 'JournalEndpoint', { value: this.cluster.clusterEndpoint.hostname });
  }
}

function natUserData(): ec2.UserData {
  const ud = ec2.UserData.forLinux();
  ud.addCommands(...NAT_USER_DATA_COMMANDS);
  return ud;
}

/**
 * The generated secret's logical id is `Names.uniqueId(secret)` plus a hash, fixed by the
 * RDS construct itself, so the concern construct would have changed it: a new secret, a new
 * master password, and a JOURNAL_URL that no longer connects. Keep the id it had when the
 * cluster sat in the stack itself.
 */
function keepSecretLogicalId(cluster: rds.DatabaseCluster): void {
  const secret = cluster.node.tryFindChild('Secret');
  if (secret === undefined) return;
  const cfn = secret.node.defaultChild as secretsmanager.CfnSecret;
  const current: string = Stack.of(cluster).resolve(cfn.logicalId);
  const prefix = Names.uniqueId(secret);
  if (current.startsWith(prefix)) cfn.overrideLogicalId(stableUniqueId(secret) + current.slice(prefix.length));
}
