import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NAT_USER_DATA_COMMANDS } from '../lib/journal';
import { PINNED_AMI, resources, synth, TEST_ACCOUNT, TEST_REGION } from './helpers';

const userDataOf = (instance: any): string => {
  const v = instance.Properties.UserData['Fn::Base64'];
  assert.equal(typeof v, 'string');
  return v;
};

const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);

describe('journal=aurora: the NAT instance', () => {
  const { json } = synth({ journal: 'aurora' });
  const [instanceId, instance] = resources(json, 'AWS::EC2::Instance')[0];

  it('runs the image pinned in cdk.context.json, not one resolved at each deploy', () => {
    assert.equal(instance.Properties.ImageId, PINNED_AMI);
    // No SSM-typed template parameter: nothing is looked up again when CloudFormation deploys.
    const ssmParameters = Object.keys(json.Parameters ?? {}).filter((k) => k.startsWith('SsmParameterValue'));
    assert.deepEqual(ssmParameters, []);
  });

  it('is bound to the account and region whose context holds the image', () => {
    const { stack } = synth({ journal: 'aurora' });
    assert.equal(stack.account, TEST_ACCOUNT);
    assert.equal(stack.region, TEST_REGION);
    assert.equal(synth().stack.account.startsWith('${Token'), true, 'other profiles stay environment-agnostic');
  });

  it('installs iptables-services with retries before configuring the NAT, and saves the rules', () => {
    const script = userDataOf(instance);
    assert.ok(script.startsWith('#!/bin/bash\n'));
    assert.equal(script, `#!/bin/bash\n${NAT_USER_DATA_COMMANDS.join('\n')}`);
    const install = script.indexOf('dnf install -y iptables-services');
    const loop = script.indexOf('for attempt in 1 2 3 4 5 6; do');
    assert.ok(loop >= 0 && loop < install, 'the install is inside a retry loop');
    assert.ok(script.includes('&& break'));
    assert.ok(script.includes('sleep 10'));
    // Gives up loudly instead of configuring a NAT without iptables.
    assert.ok(script.includes('rpm -q iptables-services || {'));
    const order = [
      'systemctl enable --now iptables',
      'net.ipv4.ip_forward=1',
      'sysctl -p',
      'ip route show default',
      'iptables -t nat -A POSTROUTING -o "$IFACE" -j MASQUERADE',
      'iptables -F FORWARD',
      'iptables-save > /etc/sysconfig/iptables',
    ].map((c) => script.indexOf(c));
    for (const i of order) assert.ok(i > install, `${i} after the install`);
    assert.deepEqual([...order].sort((a, b) => a - b), order, 'configured in order');
    assert.equal(instance.Properties.SourceDestCheck, false);
  });

  it('leaves through an Elastic IP associated with the instance, output as EgressIp', () => {
    const eips = resources(json, 'AWS::EC2::EIP');
    assert.equal(eips.length, 1);
    const [eipId, eip] = eips[0];
    assert.deepEqual(eip.Properties, { Domain: 'vpc', InstanceId: { Ref: instanceId } });
    assert.deepEqual(json.Outputs.EgressIp.Value, { 'Fn::GetAtt': [eipId, 'PublicIp'] });
    // Associated at creation: the internet gateway must be attached first.
    const [attachment] = resources(json, 'AWS::EC2::VPCGatewayAttachment').map(([id]) => id);
    assert.ok(asList(eip.DependsOn ?? []).includes(attachment), JSON.stringify(eip.DependsOn));
  });

  it('leaves the engine defaults alone: the journal closes its own idle sessions', () => {
    // The executors set idle_session_timeout per session (journal crate); a parameter group
    // would need a writer reboot to apply and is not needed.
    assert.equal(resources(json, 'AWS::RDS::DBClusterParameterGroup').length, 0);
  });
});

describe('journal=aurora with a NAT gateway', () => {
  const { json } = synth({ journal: 'aurora', nat: 'gateway' });

  it('outputs the gateway Elastic IP as EgressIp', () => {
    const eips = resources(json, 'AWS::EC2::EIP');
    assert.equal(eips.length, 1);
    const [eipId] = eips[0];
    const [, gw] = resources(json, 'AWS::EC2::NatGateway')[0];
    assert.deepEqual(gw.Properties.AllocationId, { 'Fn::GetAtt': [eipId, 'AllocationId'] });
    assert.deepEqual(json.Outputs.EgressIp.Value, { 'Fn::GetAtt': [eipId, 'PublicIp'] });
  });

  it('has no cluster parameter group either', () => {
    assert.equal(resources(json, 'AWS::RDS::DBClusterParameterGroup').length, 0);
  });
});

describe('journal=log', () => {
  it('has no NAT, Elastic IP, parameter group or EgressIp output', () => {
    const { json } = synth();
    for (const type of ['AWS::EC2::Instance', 'AWS::EC2::EIP', 'AWS::RDS::DBClusterParameterGroup']) {
      assert.deepEqual(resources(json, type), [], type);
    }
    assert.equal(json.Outputs.EgressIp, undefined);
  });
});

describe('switching journal=log to journal=aurora', () => {
  it('never shortens an executor log group, which holds the log journal', () => {
    // The same log groups in both modes: a shorter retention after the switch would delete
    // the journal lines written before it that are older than the new retention.
    const retention = (json: any) =>
      Object.fromEntries(
        resources(json, 'AWS::Logs::LogGroup')
          .filter(([id]) => id.startsWith('Executor'))
          .map(([id, g]) => [id, g.Properties.RetentionInDays]),
      );
    const log = retention(synth({ journal: 'log' }).json);
    const aurora = retention(synth({ journal: 'aurora' }).json);
    assert.ok(Object.keys(log).length >= 3, JSON.stringify(log));
    for (const [id, days] of Object.entries(log)) {
      assert.ok(aurora[id] >= days, `${id}: ${aurora[id]} days with Aurora, ${days} with the log journal`);
    }
  });
});
