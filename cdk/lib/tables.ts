/**
 * The DynamoDB tables: idempotency records, Tradovate tokens, broker health, and (with
 * `databento=true`) the cached front months.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { Concern } from './ids';

export interface TablesProps {
  /** Adds `FrontMonthTable`, written by front-month-refresher and read by the router. */
  readonly frontMonths: boolean;
}

export class Tables extends Concern {
  readonly idempotency: dynamodb.Table;
  readonly tokens: dynamodb.Table;
  readonly health: dynamodb.Table;
  readonly frontMonths?: dynamodb.Table;

  constructor(scope: Construct, id: string, props: TablesProps) {
    super(scope, id);
    this.idempotency = this.table('IdempotencyTable', 'expires_at');
    this.tokens = this.table('TokenTable');
    this.health = this.table('HealthTable');
    if (props.frontMonths) this.frontMonths = this.table('FrontMonthTable', 'expires_at');
  }

  private table(id: string, ttlAttribute?: string): dynamodb.Table {
    return new dynamodb.Table(this, id, {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: ttlAttribute,
      // The idempotency records are what keeps a signal from trading twice: keep them.
      removalPolicy: RemovalPolicy.RETAIN,
      deletionProtection: true,
    });
  }
}
