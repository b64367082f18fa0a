CREATE TABLE "areas" (
	"id" serial PRIMARY KEY NOT NULL,
	"slug" text NOT NULL,
	"name" text NOT NULL,
	"kind" text DEFAULT 'custom' NOT NULL,
	"geom" geometry(MultiPolygon, 4326) NOT NULL,
	"properties" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "areas_slug_unique" UNIQUE("slug")
);
--> statement-breakpoint
CREATE TABLE "etl_rejects" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"run_id" integer NOT NULL,
	"row_number" integer NOT NULL,
	"raw" text NOT NULL,
	"reason" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "etl_runs" (
	"id" serial PRIMARY KEY NOT NULL,
	"source_id" integer NOT NULL,
	"status" text DEFAULT 'running' NOT NULL,
	"trigger" text DEFAULT 'cli' NOT NULL,
	"location" text NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"rows_read" integer DEFAULT 0 NOT NULL,
	"rows_inserted" integer DEFAULT 0 NOT NULL,
	"rows_updated" integer DEFAULT 0 NOT NULL,
	"rows_unchanged" integer DEFAULT 0 NOT NULL,
	"rows_rejected" integer DEFAULT 0 NOT NULL,
	"timings" jsonb,
	"error" text
);
--> statement-breakpoint
CREATE TABLE "etl_sources" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"format" text NOT NULL,
	"location" text NOT NULL,
	"mapping" jsonb NOT NULL,
	"schedule" text,
	"enabled" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "etl_sources_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "listing_history" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"listing_id" bigint NOT NULL,
	"run_id" integer,
	"changed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"event" text NOT NULL,
	"standard_status" text,
	"list_price" numeric(14, 2),
	"close_price" numeric(14, 2),
	"previous_status" text,
	"previous_list_price" numeric(14, 2),
	"previous_close_price" numeric(14, 2)
);
--> statement-breakpoint
CREATE TABLE "listings" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "listings_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"source_id" integer NOT NULL,
	"source_key" text NOT NULL,
	"standard_status" text NOT NULL,
	"property_type" text,
	"list_price" numeric(14, 2),
	"close_price" numeric(14, 2),
	"bedrooms_total" smallint,
	"bathrooms_total" numeric(5, 2),
	"living_area" integer,
	"lot_size_area" integer,
	"year_built" smallint,
	"unparsed_address" text,
	"street_number" text,
	"street_name" text,
	"unit_number" text,
	"city" text,
	"state_or_province" text,
	"postal_code" text,
	"country" text,
	"listing_contract_date" date,
	"close_date" date,
	"modification_timestamp" timestamp with time zone,
	"geom" geometry(Point, 4326),
	"extra" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"last_run_id" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "etl_rejects" ADD CONSTRAINT "etl_rejects_run_id_etl_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."etl_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "etl_runs" ADD CONSTRAINT "etl_runs_source_id_etl_sources_id_fk" FOREIGN KEY ("source_id") REFERENCES "public"."etl_sources"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "listing_history" ADD CONSTRAINT "listing_history_listing_id_listings_id_fk" FOREIGN KEY ("listing_id") REFERENCES "public"."listings"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "listings" ADD CONSTRAINT "listings_source_id_etl_sources_id_fk" FOREIGN KEY ("source_id") REFERENCES "public"."etl_sources"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "areas_geom_gist" ON "areas" USING gist ("geom");--> statement-breakpoint
CREATE INDEX "areas_kind_idx" ON "areas" USING btree ("kind");--> statement-breakpoint
CREATE INDEX "etl_rejects_run_row_idx" ON "etl_rejects" USING btree ("run_id","row_number");--> statement-breakpoint
CREATE INDEX "etl_runs_source_started_idx" ON "etl_runs" USING btree ("source_id","started_at");--> statement-breakpoint
CREATE INDEX "listing_history_listing_idx" ON "listing_history" USING btree ("listing_id","changed_at");--> statement-breakpoint
CREATE UNIQUE INDEX "listings_source_key_uq" ON "listings" USING btree ("source_id","source_key");--> statement-breakpoint
CREATE INDEX "listings_geom_gist" ON "listings" USING gist ("geom");--> statement-breakpoint
CREATE INDEX "listings_status_type_idx" ON "listings" USING btree ("standard_status","property_type");--> statement-breakpoint
CREATE INDEX "listings_list_price_idx" ON "listings" USING btree ("list_price");--> statement-breakpoint
CREATE INDEX "listings_close_price_idx" ON "listings" USING btree ("close_price");--> statement-breakpoint
CREATE INDEX "listings_listing_contract_date_idx" ON "listings" USING btree ("listing_contract_date");--> statement-breakpoint
CREATE INDEX "listings_close_date_idx" ON "listings" USING btree ("close_date");