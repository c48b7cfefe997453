import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, CfnResource, Names, Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { WebhookApi } from '../lib/api';
import { Executors } from '../lib/executors';
import { Concern, pathWithinStack, stableUniqueId, uniqueIdOf } from '../lib/ids';
import { JournalDatabase } from '../lib/journal';
import { Monitoring } from '../lib/monitoring';
import { Queues } from '../lib/queues';
import { Tables } from '../lib/tables';
import { synth } from './helpers';

/**
 * The logical ids these resources had when the stack was one class with every resource at
 * its top level (synthesized from that version, journal=aurora and databento=true). A change
 * here replaces the resource on the next deploy: a new webhook URL, new empty tables, a
 * refused update of the named queues and cluster, a new database password.
 */
const KEPT_IDS: Record<string, string[]> = {
  aurora: [
    'ApiAccessLogsE9DF007D', 'ApiCloudWatchRole73EC6FC4', 'ApiDeploymentStageprod3EB9684E', 'ApiF70053CD',
    'CoinbaseDlq0105824D', 'CoinbaseQueue9790AD1E', 'Dashboard9E4231ED', 'ExecutorCoinbaseA4708C00',
    'ExecutorCoinbaseLogsD3B47592', 'ExecutorCoinbaseRole939DEB7E',
    'ExecutorCoinbaseSqsEventSourceTvPipelineCoinbaseQueue94D0FE123CFCAF3E', 'ExecutorOanda4C119737',
    'ExecutorOandaLogs58486E8C', 'ExecutorOandaRole1C1186CA',
    'ExecutorOandaSqsEventSourceTvPipelineOandaQueue7F9F2257817DCAE6', 'ExecutorSg842A183C',
    'ExecutorSgtoTvPipelineJournalSg341E00B65432D2BD446E', 'ExecutorTradovate4D14F3A0',
    'ExecutorTradovateLogs7634BCAF', 'ExecutorTradovateRole3CE48E28',
    'ExecutorTradovateSqsEventSourceTvPipelineTradovateQueueB7E16E14B2AFC426', 'HealthTableB882C94E',
    'IdempotencyTable22A5A209', 'Ingest4069586C', 'IngestLogs7327CBDC', 'IngestRoleAF8AE6D8', 'JournalAE8C44B2',
    'JournalLogs0A94586A', 'JournalSgF405C78F', 'JournalSgfromTvPipelineExecutorSgFB9D942F543272361F68',
    'Journalwriter22B78709', 'Notifications87298708', 'OandaDlqB5E5396C', 'OandaQueueBC0D4EC7', 'Router16807C72',
    'RouterLogsDF967322', 'RouterRole4AB001A6', 'RouterSqsEventSourceTvPipelineSignalsQueue5B469E4ADF9B1418',
    'SignalsDlqAFD29646', 'SignalsQueueECF37AE8', 'TokenRefreshSchedule693D2FCF', 'TokenRefresher61C153A4',
    'TokenRefresherLogsD95687B6', 'TokenRefresherRole2AE30B5A', 'TokenTable3625D248', 'TradovateDlqE2AADB60',
    'TradovateQueueC9F28C5D', 'TvPipelineJournalSecret10DF5AE63fdaad7efa858a3daf9490cf0a702aeb', 'Vpc8378EB38',
    'VpcFlowLogsE6FFDEF9', 'VpcNatSecurityGroup8DA26EDC', 'VpcdatabaseSubnet1SubnetD53A427B',
    'VpcdatabaseSubnet2Subnet75663D63', 'VpcexecutorsSubnet1Subnet76A1EB23', 'VpcexecutorsSubnet2SubnetEFE51869',
    'VpcpublicSubnet1NatInstance6B5DA608', 'VpcpublicSubnet1NatInstanceInstanceRoleE2CB6C6C',
    'VpcpublicSubnet1Subnet2BB74ED7', 'VpcpublicSubnet2SubnetE34B022A', 'VpcrejectedIAMRole4705FCA8',
  ],
  databento: [
    'FrontMonthRefresherAF9D217B', 'FrontMonthRefresherLogsA69AFBA7', 'FrontMonthRefresherRole3EB30EC1',
    'FrontMonthSchedule6885003F', 'FrontMonthTable5E9EE479',
  ],
};

describe('the stack is composed of one construct per concern', () => {
  it('has the API, queues, tables, executors, journal and monitoring as its parts', () => {
    const { stack } = synth({ journal: 'aurora' });
    const parts = stack.node.children.filter((c) => c instanceof Concern);
    const kinds = new Map(parts.map((c) => [c.constructor, c.node.id]));
    for (const kind of [WebhookApi, Queues, Tables, Executors, JournalDatabase, Monitoring]) {
      assert.ok(kinds.has(kind), kind.name);
    }
    // Everything else at the top level is an output, not a resource.
    const rest = stack.node.children.filter((c) => !(c instanceof Concern) && !c.node.id.includes('Bootstrap'));
    assert.deepEqual(rest.map((c) => c.node.id).sort(), ['NotificationTopicArn', 'SecureStringParameters']);
  });
});

describe('logical ids do not depend on the grouping', () => {
  for (const [profile, ids] of Object.entries(KEPT_IDS)) {
    it(`keeps the ids of the stateful resources (${profile})`, () => {
      const { json } = synth(profile === 'aurora' ? { journal: 'aurora' } : { databento: 'true' });
      for (const id of ids) assert.ok(json.Resources[id], `${id} was renamed`);
    });
  }

  it('leaves concern ids out of the path, and computes ids exactly as CDK does for that path', () => {
    const grouped = new Stack(new App(), 'S');
    const queue = new Construct(new Concern(grouped, 'Group'), 'Queue');
    const resource = new CfnResource(queue, 'Resource', { type: 'Test::Thing' });
    assert.deepEqual(pathWithinStack(resource), ['Queue', 'Resource']);

    const flat = new Stack(new App(), 'S');
    const flatQueue = new Construct(flat, 'Queue');
    const flatResource = new CfnResource(flatQueue, 'Resource', { type: 'Test::Thing' });
    assert.equal(uniqueIdOf(pathWithinStack(resource)), flat.resolve(flatResource.logicalId));
    assert.equal(stableUniqueId(queue), Names.uniqueId(flatQueue));
    assert.notEqual(Names.uniqueId(queue), Names.uniqueId(flatQueue), 'the grouping does change CDK’s own ids');
  });
});
