import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Tables } from '../lib/tables';

const build = (frontMonths: boolean) => {
  const stack = new Stack(new App(), 'TablesOnly');
  const tables = new Tables(stack, 'Tables', { frontMonths });
  return { tables, json: Template.fromStack(stack).toJSON() };
};

describe('Tables', () => {
  it('creates the three tables, retained and protected, the front-month table only when asked', () => {
    const { tables, json } = build(false);
    assert.equal(Object.keys(json.Resources).length, 3);
    assert.equal(tables.frontMonths, undefined);
    for (const [id, t] of Object.entries<any>(json.Resources)) {
      assert.equal(t.Type, 'AWS::DynamoDB::Table', id);
      assert.equal(t.DeletionPolicy, 'Retain', id);
      assert.equal(t.Properties.DeletionProtectionEnabled, true, id);
      assert.equal(t.Properties.BillingMode, 'PAY_PER_REQUEST', id);
    }
    const withFront = build(true);
    assert.ok(withFront.tables.frontMonths);
    assert.equal(Object.keys(withFront.json.Resources).length, 4);
  });

  it('keeps TTL on expires_at for the idempotency and front-month tables only', () => {
    const { json } = build(true);
    const ttl = Object.entries<any>(json.Resources)
      .filter(([, t]) => t.Properties.TimeToLiveSpecification)
      .map(([id, t]) => [id.replace(/^Tables/, '').replace(/[0-9A-F]{8}$/, ''), t.Properties.TimeToLiveSpecification.AttributeName]);
    assert.deepEqual(ttl.sort(), [['FrontMonthTable', 'expires_at'], ['IdempotencyTable', 'expires_at']]);
  });
});
